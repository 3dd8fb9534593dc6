/**
 * The evidence of a slash, as the ledger keeps it (JSON) and as the StakingRegistry verifies it (its structs):
 * the checkers' signed CheckReports, and for a container its provider's signed host binding. The evidence hash
 * is the one the contract computes, so a slash is recorded once per failing round (container) or per set of
 * contradicted reports (checker) — in the ledger and on chain alike.
 */
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { type Address, encodeAbiParameters, type Hex, keccak256, stringToHex } from 'viem';
import {
  Address as AddressSchema,
  AthError,
  type CheckReport,
  CheckReportFields,
} from '../../signaling/protocol/index.js';
import { EconomyErrorCode } from './errors.js';

/** An EIP-712 signature (65 bytes; longer for smart-wallet checkers). */
const HexSignature = Type.String({ pattern: '^0x[0-9a-fA-F]{130,}$', maxLength: 4096 });

const SignedReportJson = Type.Object(
  { report: CheckReportFields, signature: HexSignature },
  { additionalProperties: false },
);
export type SignedReportJson = Static<typeof SignedReportJson>;

/** Kind codes of `StakingRegistry.slashContainer`. */
export const CONTAINER_SLASH_KIND = { downtime: 0, fraud: 1 } as const;

export const ContainerEvidence = Type.Object(
  {
    type: Type.Literal('container'),
    operator: AddressSchema,
    container: Type.String({ minLength: 1, maxLength: 128 }),
    round: Type.String({ pattern: '^(0|[1-9][0-9]{0,19})$' }),
    kind: Type.Union([Type.Literal('downtime'), Type.Literal('fraud')]),
    /** What the round found, and what the container was held to (the game's manifest). */
    finding: Type.String({ maxLength: 64 }),
    expected: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()]))),
    binding: Type.Object(
      { nonce: Type.String({ pattern: '^[0-9a-f]{32}$' }), signature: HexSignature },
      { additionalProperties: false },
    ),
    /** The failing majority's reports by staked checkers, ascending by checker address. */
    reports: Type.Array(SignedReportJson, { minItems: 1, maxItems: 64 }),
  },
  { additionalProperties: false },
);
export type ContainerEvidence = Static<typeof ContainerEvidence>;

export const CheckerEvidence = Type.Object(
  {
    type: Type.Literal('checker'),
    checker: AddressSchema,
    /** Each contradicted report with the majority (staked checkers, ascending) that contradicted it. */
    lies: Type.Array(
      Type.Object({ told: SignedReportJson, majority: Type.Array(SignedReportJson, { minItems: 1, maxItems: 64 }) }),
      { minItems: 1, maxItems: 64 },
    ),
  },
  { additionalProperties: false },
);
export type CheckerEvidence = Static<typeof CheckerEvidence>;

export const SlashEvidence = Type.Union([ContainerEvidence, CheckerEvidence]);
export type SlashEvidence = Static<typeof SlashEvidence>;

const evidenceCheck = TypeCompiler.Compile(SlashEvidence);

/** Validates evidence read back from the ledger (a row is an edge like any other). */
export function parseSlashEvidence(value: unknown): SlashEvidence {
  if (!evidenceCheck.Check(value)) {
    const first = evidenceCheck.Errors(value).First();
    throw new AthError({
      code: EconomyErrorCode.slashEvidence,
      shortMessage: 'stored slash evidence does not match its schema',
      details: first ? `${first.path}: ${first.message}` : undefined,
    });
  }
  return value;
}

export function toReport(wire: SignedReportJson['report']): CheckReport {
  return {
    container: wire.container,
    checker: wire.checker as Address,
    round: BigInt(wire.round),
    rttMicros: wire.rttMicros,
    fpsMilli: wire.fpsMilli,
    lossPpm: wire.lossPpm,
    ok: wire.ok,
    timestamp: BigInt(wire.timestamp),
  };
}

export function toWireReport(report: CheckReport): SignedReportJson['report'] {
  return {
    container: report.container,
    checker: report.checker,
    round: report.round.toString(),
    rttMicros: report.rttMicros,
    fpsMilli: report.fpsMilli,
    lossPpm: report.lossPpm,
    ok: report.ok,
    timestamp: report.timestamp.toString(),
  };
}

const signed = (entry: SignedReportJson) => ({ report: toReport(entry.report), signature: entry.signature as Hex });

/** `slashContainer`'s arguments. */
export function containerSlashArgs(evidence: ContainerEvidence) {
  return [
    evidence.operator as Address,
    CONTAINER_SLASH_KIND[evidence.kind],
    { nonce: evidence.binding.nonce, signature: evidence.binding.signature as Hex },
    evidence.reports.map(signed),
  ] as const;
}

/** `slashChecker`'s arguments. */
export function checkerSlashArgs(evidence: CheckerEvidence) {
  return [
    evidence.checker as Address,
    evidence.lies.map((lie) => ({ told: signed(lie.told), majority: lie.majority.map(signed) })),
  ] as const;
}

/** The contract's evidence key of a failing round: keccak256(abi.encode(keccak256(container), round)). */
export function containerEvidenceHash(container: string, round: bigint): Hex {
  return keccak256(
    encodeAbiParameters([{ type: 'bytes32' }, { type: 'uint64' }], [keccak256(stringToHex(container)), round]),
  );
}

/** The contract's key of one contradicted report: keccak256(abi.encode(keccak256(container), round, checker)). */
export function lieKey(container: string, round: bigint, checker: Address): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'uint64' }, { type: 'address' }],
      [keccak256(stringToHex(container)), round, checker],
    ),
  );
}

/** The hash a checker slash's `Slashed` event carries: keccak256(abi.encode(bytes32[] lieKeys)). */
export function checkerEvidenceHash(checker: Address, lies: ReadonlyArray<{ container: string; round: bigint }>): Hex {
  return keccak256(
    encodeAbiParameters([{ type: 'bytes32[]' }], [lies.map((lie) => lieKey(lie.container, lie.round, checker))]),
  );
}
