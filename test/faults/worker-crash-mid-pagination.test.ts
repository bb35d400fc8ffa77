import { workerCrashCases } from './worker-crash-cases';

workerCrashCases('mid-pagination');
