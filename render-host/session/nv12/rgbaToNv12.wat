;; RGBA or BGRA → NV12 (BT.601, limited range: the matrix swscale applies by default), 4 pixels of two rows a step,
;; in WebAssembly SIMD. `npm run build:wasm` compiles this file into rgbaToNv12Wasm.ts; a test fails when the two
;; disagree.
;;
;; Each pixel is one 32-bit lane; seen as two 16-bit lanes it is (R | G<<8, B | A<<8) for RGBA. Masking the low
;; bytes gives (R, B) and shifting right by 8 gives (G, A): then i32x4.dot_i16x8_s with a packed coefficient pair
;; is one pixel's weighted sum, four pixels at once. BGRA only swaps the pair (the caller packs the coefficients).
;;   Y = (kR·R + kG·G + kB·B + 128 + (16 << 8)) >> 8
;;   chroma from the sum of the 2×2 block (each component ≤ 1020, still a 16-bit lane; the horizontal pair is
;;   added as 64-bit lanes shifted by 32): U = (kR·ΣR + kG·ΣG + kB·ΣB + 512 + (128 << 10)) >> 10, V likewise.
;; Width a multiple of 4, height even; the planes are packed (stride = width) in this module's memory.
(module
  (memory (export "memory") 1)
  (func (export "toNv12")
    (param $src i32) (param $width i32) (param $height i32) (param $dstY i32) (param $dstUV i32)
    ;; coefficient pairs, packed low | high << 16: (R, B) and (G, 0) for Y, U and V
    (param $kYrb i32) (param $kYg i32) (param $kUrb i32) (param $kUg i32) (param $kVrb i32) (param $kVg i32)
    (local $row i32) (local $stride i32) (local $s0 i32) (local $s1 i32) (local $rowEnd i32)
    (local $y0 i32) (local $y1 i32) (local $uv i32)
    (local $yRB v128) (local $yG v128) (local $uRB v128) (local $uG v128) (local $vRB v128) (local $vG v128)
    (local $rb0 v128) (local $ga0 v128) (local $rb1 v128) (local $ga1 v128) (local $luma v128) (local $chroma v128)
    (local.set $yRB (i32x4.splat (local.get $kYrb)))
    (local.set $yG (i32x4.splat (local.get $kYg)))
    (local.set $uRB (i32x4.splat (local.get $kUrb)))
    (local.set $uG (i32x4.splat (local.get $kUg)))
    (local.set $vRB (i32x4.splat (local.get $kVrb)))
    (local.set $vG (i32x4.splat (local.get $kVg)))
    (local.set $stride (i32.shl (local.get $width) (i32.const 2)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $row) (local.get $height)))
        (local.set $s0 (i32.add (local.get $src) (i32.mul (local.get $row) (local.get $stride))))
        (local.set $s1 (i32.add (local.get $s0) (local.get $stride)))
        (local.set $rowEnd (local.get $s1))
        (local.set $y0 (i32.add (local.get $dstY) (i32.mul (local.get $row) (local.get $width))))
        (local.set $y1 (i32.add (local.get $y0) (local.get $width)))
        (local.set $uv
          (i32.add (local.get $dstUV) (i32.mul (i32.shr_u (local.get $row) (i32.const 1)) (local.get $width))))
        (loop $columns
          ;; four pixels of each row, split into (R, B) and (G, A) lanes
          (local.set $rb0 (v128.and (v128.load (local.get $s0)) (v128.const i16x8 255 255 255 255 255 255 255 255)))
          (local.set $ga0 (i16x8.shr_u (v128.load (local.get $s0)) (i32.const 8)))
          (local.set $rb1 (v128.and (v128.load (local.get $s1)) (v128.const i16x8 255 255 255 255 255 255 255 255)))
          (local.set $ga1 (i16x8.shr_u (v128.load (local.get $s1)) (i32.const 8)))
          ;; luma of both rows: 8 values, narrowed to bytes 0–3 (upper row) and 4–7 (lower row)
          (local.set $luma
            (i16x8.narrow_i32x4_u
              (i32x4.shr_u
                (i32x4.add
                  (i32x4.add (i32x4.dot_i16x8_s (local.get $rb0) (local.get $yRB))
                             (i32x4.dot_i16x8_s (local.get $ga0) (local.get $yG)))
                  (v128.const i32x4 4224 4224 4224 4224))
                (i32.const 8))
              (i32x4.shr_u
                (i32x4.add
                  (i32x4.add (i32x4.dot_i16x8_s (local.get $rb1) (local.get $yRB))
                             (i32x4.dot_i16x8_s (local.get $ga1) (local.get $yG)))
                  (v128.const i32x4 4224 4224 4224 4224))
                (i32.const 8))))
          (local.set $luma (i8x16.narrow_i16x8_u (local.get $luma) (local.get $luma)))
          (v128.store32_lane 0 (local.get $y0) (local.get $luma))
          (v128.store32_lane 1 (local.get $y1) (local.get $luma))
          ;; 2×2 sums: the two rows, then each pixel pair (lanes 0 and 2 hold the two blocks' sums)
          (local.set $rb0 (i16x8.add (local.get $rb0) (local.get $rb1)))
          (local.set $ga0 (i16x8.add (local.get $ga0) (local.get $ga1)))
          (local.set $rb0 (i32x4.add (local.get $rb0) (i64x2.shr_u (local.get $rb0) (i32.const 32))))
          (local.set $ga0 (i32x4.add (local.get $ga0) (i64x2.shr_u (local.get $ga0) (i32.const 32))))
          ;; U into lanes 0 and 2, V into lanes 1 and 3: U V U V, narrowed to 4 bytes
          (local.set $chroma
            (v128.or
              (v128.and
                (i32x4.shr_s
                  (i32x4.add
                    (i32x4.add (i32x4.dot_i16x8_s (local.get $rb0) (local.get $uRB))
                               (i32x4.dot_i16x8_s (local.get $ga0) (local.get $uG)))
                    (v128.const i32x4 131584 131584 131584 131584))
                  (i32.const 10))
                (v128.const i32x4 -1 0 -1 0))
              (i64x2.shl
                (i32x4.shr_s
                  (i32x4.add
                    (i32x4.add (i32x4.dot_i16x8_s (local.get $rb0) (local.get $vRB))
                               (i32x4.dot_i16x8_s (local.get $ga0) (local.get $vG)))
                    (v128.const i32x4 131584 131584 131584 131584))
                  (i32.const 10))
                (i32.const 32))))
          (local.set $chroma (i16x8.narrow_i32x4_u (local.get $chroma) (local.get $chroma)))
          (v128.store32_lane 0 (local.get $uv) (i8x16.narrow_i16x8_u (local.get $chroma) (local.get $chroma)))
          (local.set $s0 (i32.add (local.get $s0) (i32.const 16)))
          (local.set $s1 (i32.add (local.get $s1) (i32.const 16)))
          (local.set $y0 (i32.add (local.get $y0) (i32.const 4)))
          (local.set $y1 (i32.add (local.get $y1) (i32.const 4)))
          (local.set $uv (i32.add (local.get $uv) (i32.const 4)))
          (br_if $columns (i32.lt_u (local.get $s0) (local.get $rowEnd))))
        (local.set $row (i32.add (local.get $row) (i32.const 2)))
        (br $rows)))))
