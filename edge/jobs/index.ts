export { PassScheduler, type PassSchedulerParameters } from './PassScheduler.js';
