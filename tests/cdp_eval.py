#!/usr/bin/env python3
"""Opens a page in headless Chromium and evaluates JavaScript in it through
the DevTools protocol (standard library only: a minimal WebSocket client).

  cdp_eval.py URL EXPRESSION     prints the expression's value as JSON;
                                 exit 1 if it throws or the page logged an
                                 error or an exception to its console."""
import base64
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request


class WS:
    def __init__(self, url):
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        self.s = socket.create_connection((m.group(1), int(m.group(2))), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n" % (m.group(3), m.group(1), m.group(2), key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.buf = b""

    def send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                               bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                               bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        msg = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            msg += self._read(n)
            if b0 & 0x80:
                return json.loads(msg)


def main():
    url, expr = sys.argv[1], sys.argv[2]
    prof = tempfile.mkdtemp(prefix="cdp.")
    p = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--remote-debugging-port=0", "--user-data-dir=" + prof, "about:blank"],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        port = None
        deadline = time.time() + 120
        while port is None and time.time() < deadline:
            line = p.stderr.readline()
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = m.group(1)
        pages = json.load(urllib.request.urlopen("http://127.0.0.1:%s/json" % port))
        ws = WS([x for x in pages if x["type"] == "page"][0]["webSocketDebuggerUrl"])
        errors, ids = [], iter(range(1, 1 << 30))

        def call(method, **params):
            i = next(ids)
            ws.send({"id": i, "method": method, "params": params})
            while True:
                m = ws.recv()
                if m.get("method") == "Runtime.exceptionThrown":
                    errors.append(m["params"]["exceptionDetails"].get("text", "exception"))
                elif m.get("method") == "Runtime.consoleAPICalled" and m["params"]["type"] in ("error", "assert"):
                    errors.append(" ".join(str(a.get("value")) for a in m["params"]["args"]))
                elif m.get("method") == "Log.entryAdded" and m["params"]["entry"]["level"] == "error":
                    errors.append(m["params"]["entry"]["text"])
                elif m.get("id") == i:
                    return m
        call("Runtime.enable")
        call("Log.enable")
        call("Page.enable")
        call("Page.navigate", url=url)
        # Wait for the load event.
        while call("Runtime.evaluate", expression="document.readyState")["result"]["result"].get("value") != "complete":
            time.sleep(0.1)
        r = call("Runtime.evaluate", expression=expr, returnByValue=True)
        call("Runtime.evaluate", expression="1")  # drains late console events
        res = r.get("result", {})
        if "exceptionDetails" in res:
            print("expression threw: %s" % res["exceptionDetails"], file=sys.stderr)
            return 1
        if errors:
            print("console errors: %s" % errors, file=sys.stderr)
            return 1
        print(json.dumps(res["result"].get("value")))
        return 0
    finally:
        p.kill()
        p.wait()
        subprocess.run(["rm", "-rf", prof])


if __name__ == "__main__":
    sys.exit(main())
