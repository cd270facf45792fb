/**
 * The types of the `proxy` package (its own are behind an `exports` map that this project's `moduleResolution: node`
 * does not read): what egress.ts uses of it, as its dist/proxy.d.ts declares.
 */
declare module 'proxy' {
  import type * as http from 'node:http';
  export interface ProxyServer extends http.Server {
    authenticate?: ((req: http.IncomingMessage) => boolean | Promise<boolean>) | 'negotiate';
    localAddress?: string;
  }
  export function createProxy(server?: http.Server): ProxyServer;
}
