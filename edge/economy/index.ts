// The economy in the signaling process: payments, metering, settlement and their HTTP API.

export { economyRoutes } from './economyRoutes.js';
export { PaymentDesk, type PaymentDeskSettings } from './PaymentDesk.js';
export { providerStatusRoutes } from './providerStatus.js';
export { StakeWatcher } from './StakeWatcher.js';
export { chainSettingsOf, type Economy, startEconomy } from './startEconomy.js';
export { STUDIO_SIGNATURE_WINDOW_SEC, studioRegistrationMessage, studioRoutes } from './studioRoutes.js';
