"""The spec's §6 client sample with the blocking client, against ``twistd -n bws``."""

import sys

import bws.sync

url = sys.argv[1] if len(sys.argv) > 1 else "ws://localhost:9090/basic/ws"
wsClient = bws.sync.Client(url)

wsClient.writeTextMessage("Text message")

textResp = wsClient.readTextMessage()
print(textResp)

wsClient.writeBinaryMessage("Binary message".encode())

byteResp = wsClient.readBinaryMessage()
stringResp = byteResp.decode("utf-8")
print(stringResp)

wsClient.close()
