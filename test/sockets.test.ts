import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { identify } from "../src/supervisor/identity.js";
import { clientSocketInode, socketHolder } from "../src/supervisor/sockets.js";

/** A /proc/net/tcp table: its header and one line per connection (local, remote, state, inode). */
function tcpTable(rows: readonly (readonly [string, string, string, number])[]): string {
  const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
  return header + rows.map(([local, remote, state, inode], i) => `   ${i}: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 20 4 30 10 -1`).join("\n");
}

describe("the client end of a loopback connection", () => {
  it("is the established line whose local end is the client's port and remote end ours", () => {
    const table = tcpTable([
      ["0100007F:1F90", "00000000:0000", "0A", 111], // our listener
      ["0100007F:1F90", "0100007F:A001", "01", 222], // our end of the connection
      ["0100007F:A001", "0100007F:1F90", "01", 333], // the client's end
    ]);
    expect(clientSocketInode({ serverPort: 0x1f90, clientPort: 0xa001 }, table)).toBe(333);
  });

  it("is not found when the connection is not established, or comes from another address", () => {
    const table = tcpTable([
      ["0100007F:A001", "0100007F:1F90", "06", 333], // TIME_WAIT
      ["0200007F:A002", "0100007F:1F90", "01", 444], // from 127.0.0.2
    ]);
    expect(clientSocketInode({ serverPort: 0x1f90, clientPort: 0xa001 }, table)).toBeNull();
    expect(clientSocketInode({ serverPort: 0x1f90, clientPort: 0xa002 }, table)).toBeNull();
  });
});

describe("who holds a socket", () => {
  const open: { close(): void }[] = [];
  afterEach(() => {
    for (const thing of open.splice(0)) thing.close();
  });

  it("is found among the candidates that hold its descriptor, and nowhere else", async () => {
    const server = createServer((s) => open.push({ close: () => s.destroy() }));
    open.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client: Socket = connect((server.address() as AddressInfo).port, "127.0.0.1");
    open.push({ close: () => client.destroy() });
    await new Promise((resolve) => client.once("connect", resolve));
    const inode = clientSocketInode({ serverPort: (server.address() as AddressInfo).port, clientPort: client.localPort as number });
    expect(inode).toBeGreaterThan(0);
    const self = identify(process.pid);
    const init = identify(1);
    if (self === null || init === null) throw new Error("cannot read /proc");
    expect(socketHolder(inode as number, [init, self])).toEqual(self);
    expect(socketHolder(inode as number, [init])).toBeNull();
  });
});
