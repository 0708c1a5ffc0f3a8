"""Home Assistant's Wyoming protocol on its own TCP port (``TTS_WYOMING_PORT``), a thin
front-end over ``SpeechService.create`` like the HTTP route (and ``open_turn`` like the
WebSocket), built on the ``wyoming`` library:

- ``messages``: Wyoming's events ↔ the serving layer (``info`` from the voices, a
  ``SpeechRequest`` from ``synthesize``);
- ``connection``: one client's connection, its events read and answered in order;
- ``reading``: one event read, bounded in size and time;
- ``streaming``: the streaming form (``synthesize-start``, ``-chunk``…, ``-stop``), a turn of
  streamed text (:mod:`tts_service.turns`) spoken while its text arrives;
- ``server``: the TCP server, its start and its stop within the shutdown grace period.
"""
