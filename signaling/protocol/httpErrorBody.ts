import { type Static, Type } from '@sinclair/typebox';

/** Every HTTP error answer of ath-edge: an AthError's code and its message (signaling/http/httpErrors.ts). */
export const HttpErrorBody = Type.Object({ code: Type.String(), message: Type.String() });
export type HttpErrorBody = Static<typeof HttpErrorBody>;
