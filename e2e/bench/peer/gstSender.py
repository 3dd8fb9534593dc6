"""bench:peer's GStreamer sender: the recorded clip through webrtcbin with x264enc, in a process of its own.

The pipeline reads one raw RGBA file per frame (multifilesrc, looping), paces it at 60 fps (clocksync),
converts to I420, encodes with x264enc at the recipe ath-edge uses (ultrafast, zerolatency, constrained
baseline, one thread, fixed bitrate, 100 ms VBV, the same keyframe interval), payloads with rtph264pay and
sends with webrtcbin (libnice ICE, DTLS-SRTP), with NACK retransmission on. Signaling is JSON lines on stdio,
like athSender.ts: out {type: offer|ice|sent}, in {type: answer|ice|close}. A pad probe after the payloader
records when each RTP timestamp was first sent (Unix ms): the bench matches it with the presented frame.

    /usr/bin/python3 e2e/bench/peer/gstSender.py <frame dir> <frames> <bitrate bps> <keyframe interval>
"""

import json
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstRtp", "1.0")
from gi.repository import GLib, Gst, GstRtp, GstSdp, GstWebRTC  # noqa: E402

directory, frames, bitrate_bps, keyint = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
Gst.init(None)
loop = GLib.MainLoop()
out_lock = threading.Lock()


def send(message):
    with out_lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


pipeline = Gst.parse_launch(
    f"multifilesrc location={directory}/frame%05d.rgba index=0 stop-index={frames - 1} loop=true "
    "! rawvideoparse format=rgba width=1280 height=720 framerate=60/1 "
    "! clocksync ! videoconvert ! video/x-raw,format=I420 "
    f"! x264enc tune=zerolatency speed-preset=ultrafast bitrate={bitrate_bps // 1000} key-int-max={keyint} "
    "threads=1 vbv-buf-capacity=100 b-adapt=false bframes=0 "
    "! video/x-h264,profile=constrained-baseline "
    "! rtph264pay name=pay config-interval=-1 aggregate-mode=zero-latency mtu=1200 "
    "! application/x-rtp,media=video,encoding-name=H264,payload=96 "
    "! webrtcbin name=webrtc bundle-policy=max-bundle"
)
webrtc = pipeline.get_by_name("webrtc")
sent = {}


def on_pay_buffer(_pad, info):
    buffer = info.get_buffer()
    ok, rtp = GstRtp.RTPBuffer.map(buffer, Gst.MapFlags.READ)
    if ok:
        timestamp = rtp.get_timestamp()
        rtp.unmap()
        if timestamp not in sent:
            sent[timestamp] = time.time() * 1000
    return Gst.PadProbeReturn.OK


pipeline.get_by_name("pay").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_pay_buffer)


def on_offer_created(promise, _element, _data):
    promise.wait()
    # Keep the reply referenced while the offer is used: the offer lives in it (PyGObject frees a temporary).
    reply = promise.get_reply()
    offer = reply.get_value("offer")
    webrtc.emit("set-local-description", offer, Gst.Promise.new())
    send({"type": "offer", "sdp": offer.sdp.as_text()})


def on_negotiation_needed(element):
    element.emit("create-offer", None, Gst.Promise.new_with_change_func(on_offer_created, element, None))


def on_ice_candidate(_element, mline, candidate):
    send({"type": "ice", "candidate": {"candidate": candidate, "sdpMLineIndex": mline, "sdpMid": None}})


webrtc.connect("on-negotiation-needed", on_negotiation_needed)
webrtc.connect("on-ice-candidate", on_ice_candidate)


def enable_nack(_element, transceiver):
    # webrtcbin retransmits on NACK only when asked to; ath-edge's werift path does by default.
    transceiver.set_property("do-nack", True)


webrtc.connect("on-new-transceiver", enable_nack)
# The video transceiver exists already (parse_launch linked the payloader to webrtcbin).
video_transceiver = webrtc.emit("get-transceiver", 0)
if video_transceiver is not None:
    enable_nack(webrtc, video_transceiver)


def handle(line):
    message = json.loads(line)
    if message["type"] == "answer":
        ok, sdp = GstSdp.SDPMessage.new_from_text(message["sdp"])
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
        webrtc.emit("set-remote-description", answer, Gst.Promise.new())
    elif message["type"] == "ice":
        candidate = message["candidate"]
        if candidate.get("candidate"):
            webrtc.emit("add-ice-candidate", candidate.get("sdpMLineIndex") or 0, candidate["candidate"])
    elif message["type"] == "close":
        send({"type": "sent", "frames": [[ts, at] for ts, at in sent.items()]})
        pipeline.set_state(Gst.State.NULL)
        loop.quit()
    return False


def read_stdin():
    for line in sys.stdin:
        GLib.idle_add(handle, line)
    GLib.idle_add(loop.quit)


threading.Thread(target=read_stdin, daemon=True).start()
pipeline.set_state(Gst.State.PLAYING)
loop.run()
