// Section 4: the workflow history each dataset's run left (the runs are section 2's).
import { datasetLabel } from '../datasets';
import { kib, printTable, type Cell } from '../format';
import type { DatasetRun } from './calls';

export function printHistory(runs: DatasetRun[]) {
  printTable(
    '4. Workflow history per lease (closed run: settle timer, collect, report, publish, re-run window 0)',
    ['dataset', 'events', 'bytes', 'KiB'],
    runs.map((r): Cell[] => [datasetLabel(r.dataset), r.history.events, r.history.bytes, kib(r.history.bytes)]),
    ['bytes = temporal.api.history.v1.History.encode(history).finish().length'],
  );
}
