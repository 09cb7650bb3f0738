// What a page sees of a bws service: each check opens a WebSocket, does one thing, and
// returns what the browser reported. browser_page.html runs the checks its query names,
// e.g. browser_page.html?text=ws://localhost:9090/&binary=ws://localhost:9090/
"use strict";

const MiB = 1024 * 1024;

// A CloseEvent as plain values: the code and reason of the close frame (1006 and "" when
// none came), and whether the closing handshake completed.
function closeOf(event) {
  return {code: event.code, reason: event.reason, wasClean: event.wasClean};
}

// Open a WebSocket: resolves with it once open. A refused upgrade (403, 404, ...) never
// opens: the page gets an "error" event, then a CloseEvent 1006; the HTTP status is not
// shown to JavaScript. The promise then rejects with {opened: false, error, code, ...}.
function openSocket(url, protocols = []) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.binaryType = "arraybuffer";            // binary messages arrive as ArrayBuffer
    let error = false;
    ws.onerror = () => { error = true; };
    ws.onopen = () => resolve(ws);
    ws.onclose = (event) => reject({opened: false, error, ...closeOf(event)});
  });
}

// The next message (a string or an ArrayBuffer); rejects with the close if one comes first.
function nextMessage(ws) {
  return new Promise((resolve, reject) => {
    ws.onmessage = (event) => resolve(event.data);
    ws.onclose = (event) => reject(closeOf(event));
  });
}

// Resolves with the close, whoever starts it.
function closed(ws) {
  return new Promise((resolve) => {
    ws.onclose = (event) => resolve(closeOf(event));
  });
}

// n random bytes: they do not compress, so they cross the wire at full size.
function randomBytes(n) {
  const bytes = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) {     // getRandomValues fills 64 KiB at most
    crypto.getRandomValues(bytes.subarray(at, Math.min(n, at + 65536)));
  }
  return bytes;
}

function sameBytes(buffer, bytes) {
  const got = new Uint8Array(buffer);
  return got.length === bytes.length && got.every((b, i) => b === bytes[i]);
}

// Send one message and compare the echo; the connection is then closed normally.
async function echo(url, message, compare) {
  const ws = await openSocket(url);
  const answer = nextMessage(ws);
  ws.send(message);
  const received = await answer;
  const result = {echoed: compare(received), extensions: ws.extensions, protocol: ws.protocol,
                  type: received instanceof ArrayBuffer ? "ArrayBuffer" : typeof received};
  const done = closed(ws);
  ws.close(1000);
  result.close = await done;
  return result;
}

const checks = {
  // A text message echoed; ws.extensions shows what the server agreed to (permessage-deflate).
  text(url) {
    const text = "hello, bws \u2713";
    return echo(url, text, (received) => received === text);
  },

  // A binary message (an ArrayBuffer) echoed.
  binary(url) {
    const bytes = Uint8Array.from({length: 256}, (_, i) => i);
    return echo(url, bytes.buffer, (received) => sameBytes(received, bytes));
  },

  // 1 MiB that does not compress: it passes only where maxFrameSize and maxMessageSize
  // were raised (the default frame limit is 64 KiB of wire bytes).
  large(url) {
    const bytes = randomBytes(MiB);
    return echo(url, bytes, (received) => sameBytes(received, bytes));
  },

  // 512 KiB of text that compresses well: with permessage-deflate each frame is small on
  // the wire, so it passes the default frame limit.
  compressible(url) {
    const text = "bws ".repeat(MiB / 8);
    return echo(url, text, (received) => received === text);
  },

  // 100 KiB that does not compress, against the default limits: the browser sends it as
  // one frame of more than 64 KiB and the server closes 1009 (message too big).
  async tooLarge(url) {
    const ws = await openSocket(url);
    const answer = nextMessage(ws);
    ws.send(randomBytes(100 * 1024));
    try {
      await answer;
      return {echoed: true};
    } catch (close) {
      return close;
    }
  },

  // The page closes with its own code (1000 or 3000-4999) and a reason (at most 123 bytes).
  async pageClose(url) {
    const ws = await openSocket(url);
    const done = closed(ws);
    ws.close(4000, "the page is done");
    return await done;
  },

  // The server closes (browser_service.py does on "bye"): the CloseEvent has its code and
  // reason.
  async serverClose(url) {
    const ws = await openSocket(url);
    const done = closed(ws);
    ws.send("bye");
    return await done;
  },

  // A subprotocol offered: ws.protocol is the server's choice. If the server chooses none,
  // the browser fails the connection (1006), as the WebSockets standard tells it to.
  async chat(url) {
    try {
      const ws = await openSocket(url, ["chat"]);
      const result = {opened: true, protocol: ws.protocol};
      const done = closed(ws);
      ws.close(1000);
      result.close = await done;
      return result;
    } catch (refused) {
      return refused;
    }
  },

  // An upgrade the server refuses (e.g. 403 for an Origin outside allowedOrigins).
  async refused(url) {
    try {
      const ws = await openSocket(url);
      ws.close(1000);
      return {opened: true};
    } catch (refused) {
      return refused;
    }
  },
};

// Run the checks the query names, in order, one at a time; show each outcome, and POST it
// as JSON to the query's "report" URL when there is one.
async function runChecks() {
  const shown = document.getElementById("results");
  const query = new URLSearchParams(location.search);
  const report = query.get("report");
  let index = 0;
  for (const [name, url] of query) {
    if (name === "report") {
      continue;
    }
    let result;
    try {
      result = checks.hasOwnProperty(name) ? await checks[name](url) : {error: "no such check"};
    } catch (error) {
      result = {error: String(error && error.message ? error.message : JSON.stringify(error))};
    }
    shown.textContent += `${name} ${url}: ${JSON.stringify(result)}\n`;
    if (report) {
      await fetch(report, {method: "POST", headers: {"Content-Type": "application/json"},
                           body: JSON.stringify({index, check: name, url, result})});
    }
    index += 1;
  }
}

runChecks();
