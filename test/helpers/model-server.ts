import { createReadStream } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { MOBILENET_V2 } from './model';

/**
 * HTTP server on 127.0.0.1 that serves the pretrained MobileNetV2 folder, and can be set to fail:
 * `failures` requests of model.json get HTTP 503 first, and `missing` answers 404 until cleared.
 */
export interface ModelServer {
  url: string;
  requests: string[];
  failures: number;
  missing: boolean;
  close(): Promise<void>;
}

export async function startModelServer(): Promise<ModelServer> {
  const folder = path.dirname(MOBILENET_V2);
  const state: ModelServer = {
    url: '',
    requests: [],
    failures: 0,
    missing: false,
    close: async () => undefined,
  };
  const server = http.createServer((request, response) => {
    const name = path.basename(request.url ?? '');
    state.requests.push(name);
    if (state.missing) return void response.writeHead(404).end();
    if (name === 'model.json' && state.failures > 0) {
      state.failures--;
      return void response.writeHead(503).end('try again');
    }
    createReadStream(path.join(folder, name))
      .on('error', () => response.writeHead(404).end())
      .pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.json`;
  state.close = () => new Promise((resolve) => server.close(() => resolve()));
  return state;
}
