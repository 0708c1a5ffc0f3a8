"""Home Assistant's Wyoming protocol on its own TCP port (``TTS_WYOMING_PORT``), a thin
front-end over ``SpeechService.create`` like the HTTP route, built on the ``wyoming`` library:

- ``messages``: Wyoming's events ↔ the serving layer (``info`` from the voices, a
  ``SpeechRequest`` from ``synthesize``);
- ``connection``: one client's connection, its events read and answered in order;
- ``server``: the TCP server, its start and its stop within the shutdown grace period.
"""
