"""The server side of bws: routing, the handshake, dispatch, the service runner, the listener."""
