/**
 * A vehicle, as the client README describes it: resumes its areas across restarts from a position
 * file, acks what it handled, refreshes its token, and moves to the next area on demand.
 *
 *   node --import tsx client/examples/vehicle.ts city:district-7            (from the repository root)
 *   ENGINE_URL=ws://host:8080/v1/ws TOKEN=$(npm run -s token -- --sub car-42 --subscribe 'city:*') node --import tsx client/examples/vehicle.ts city:district-7
 *
 * Type an area id and Enter to drive into it (moveTo from the current one). Prints one JSON line
 * per message.
 */
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { Client, type AreaMessage } from 'abe-client';
import { FilePositionStore } from 'abe-client/node';

const url = process.env.ENGINE_URL ?? 'ws://127.0.0.1:8080/v1/ws';
let area = process.argv[2] ?? 'city:district-7';

const client = new Client({
  url,
  WebSocket: WebSocket as never,
  token: process.env.TOKEN || undefined,
  store: await FilePositionStore.open(process.env.POSITIONS_FILE ?? './vehicle-positions.json'),
  acks: true,
  history: true,
  log: (level, msg, fields) => {
    if (level !== 'debug') console.error(JSON.stringify({ level, msg, ...fields }));
  },
});

const print = (m: AreaMessage) => console.log(JSON.stringify({ area: m.area, offset: m.offset, source: m.source, data: m.data }));
client.on('state', (s) => console.error(JSON.stringify({ state: s.newState })));
client.subscribe(area, print).on('gap', (g) => console.error(JSON.stringify({ gap: g })));
client.connect();

createInterface({ input: process.stdin }).on('line', (line) => {
  const next = line.trim();
  if (next === '' || next === area) return;
  const from = area;
  area = next;
  client.moveTo(from, next).then(
    () => console.error(JSON.stringify({ moved: { from, to: next } })),
    (err: Error) => console.error(JSON.stringify({ moveFailed: err.message })),
  );
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void client.disconnect().then(() => process.exit(0));
  });
}
