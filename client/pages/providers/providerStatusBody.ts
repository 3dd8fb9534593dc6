/** The dashboard's check of `GET /api/providers/:address` against the schema signaling answers with. */
import type { Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ProviderStatusBody } from '../../../signaling/protocol/index.js';

export type ProviderStatusView = Static<typeof ProviderStatusBody>;

export const providerStatusCheck = TypeCompiler.Compile(ProviderStatusBody);
