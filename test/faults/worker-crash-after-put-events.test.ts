import { workerCrashCases } from './worker-crash-cases';

workerCrashCases('after-put-events');
