"""The WebSocket for streamed text (``/v1/audio/speech/stream``): text in as a language model
writes it, audio out as it is synthesized. ``messages`` is the protocol's vocabulary,
``session`` one connection's life over the serving layer's turns (:mod:`tts_service.turns`),
``protocol`` the server side that lets a connection finish its turns when the server stops."""
