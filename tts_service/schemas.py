"""Request and response models of the OpenAI-compatible API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

from tts_service.audio.formats import ResponseFormat
from tts_service.captions import MAX_CAPTION_SECONDS, MAX_CAPTION_WORDS, CaptionFormat

MODEL_IDS = ("kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")


class VoiceRef(BaseModel):
    """OpenAI also accepts a voice as an object: ``{"id": "..."}``."""

    id: str = Field(min_length=1, max_length=200)


# The rule that word timestamps travel only in SSE events, stated in the JSON Schema itself.
TIMESTAMPS_ON: JsonDict = {
    "properties": {"timestamps": {"const": True}},
    "required": ["timestamps"],
}
SSE: JsonDict = {"properties": {"stream_format": {"const": "sse"}}, "required": ["stream_format"]}
# Captions are made of the word timestamps, so they need them (and so SSE).
CAPTIONS_ON: JsonDict = {
    "properties": {"captions": {"enum": ["vtt", "srt"]}},
    "required": ["captions"],
}
CAPTIONS_DESCRIPTION = (
    "Extension: captions of the words spoken, as WebVTT (vtt) or SubRip (srt) text; requires "
    "`timestamps: true`{sse} (else 400). The final {event} event carries them as `captions`: "
    "cues of at most two lines of about 42 characters and about 7 seconds, broken after each "
    "sentence and at pauses."
)


class VoiceOptions(BaseModel):
    """How to speak: what a speech request and a streamed-text turn both say."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(
        "kokoro",
        max_length=200,
        description=f"One of {', '.join(MODEL_IDS)}.",
        examples=list(MODEL_IDS),
    )
    voice: Annotated[str, Field(min_length=1, max_length=200)] | VoiceRef | None = Field(
        None,
        description="A Kokoro voice (af_heart), an OpenAI name (nova), or a blend "
        "(af_heart(2)+bm_fable(1)); defaults to TTS_DEFAULT_VOICE.",
        examples=["af_heart", "nova", "af_heart(2)+bm_fable(1)", {"id": "bm_fable"}],
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, allow_inf_nan=False, strict=True)
    instructions: str | None = Field(None, description="Accepted for compatibility; ignored.")
    lang_code: str | None = Field(
        None,
        max_length=16,
        description="Override the language implied by the voice (a, b, en-gb…).",
    )
    normalize: bool = Field(
        True,
        strict=True,
        description="Extension: read numbers, money, dates, times, units, addresses and "
        "abbreviations as words ($12.50 → twelve dollars and fifty cents). false speaks the "
        "text as given, for callers who normalize it themselves (say-as markup is still read).",
    )

    @property
    def voice_spec(self) -> str | None:
        return self.voice.id if isinstance(self.voice, VoiceRef) else self.voice


class SpeechRequest(VoiceOptions):
    """``POST /v1/audio/speech``; unknown fields are ignored, like OpenAI does."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "if": TIMESTAMPS_ON,
            "then": SSE,
            "dependentSchemas": {"captions": {"if": CAPTIONS_ON, "then": TIMESTAMPS_ON}},
        },
    )

    input: str = Field(
        min_length=1,
        description="Text to speak; at most TTS_MAX_INPUT_CHARS characters. Markdown, HTML and "
        "SSML markup is read as the text it marks up.",
        examples=["Hello there. This is the second sentence.", "# Title\n\n**Bold** words."],
    )
    response_format: ResponseFormat = "mp3"
    stream: bool = Field(
        True, strict=True, description="false returns the whole file with Content-Length."
    )
    stream_format: Literal["audio", "sse"] = Field(
        "audio", description="sse: text/event-stream of base64 speech.audio.delta events."
    )
    split_sentences: bool = Field(
        True,
        strict=True,
        description="Extension: false synthesizes the input as one piece (the baseline that "
        "sentence streaming is measured against).",
    )
    timestamps: bool = Field(
        False,
        strict=True,
        description="Extension; requires `stream_format: sse` (else 400): each "
        "speech.audio.delta also carries `words`, the start and end in seconds of each word "
        "spoken so far. Needs a model that predicts durations (every backend with the published model), else 400.",
    )
    captions: CaptionFormat | None = Field(
        None,
        description=CAPTIONS_DESCRIPTION.format(
            sse=" and `stream_format: sse`", event="speech.audio.done"
        ),
    )


class TurnOptions(VoiceOptions):
    """How a turn of streamed text is spoken (the WebSocket's ``turn.start``, Wyoming's
    ``synthesize-start``): a speech request's settings, without its text."""

    response_format: ResponseFormat = "pcm"
    timestamps: bool = Field(
        False,
        strict=True,
        description="Each text.spoken event also carries `words`, the start and end in seconds "
        "of each word from the turn's first audio. Needs TTS_BACKEND=torch.",
    )
    captions: CaptionFormat | None = Field(
        None, description=CAPTIONS_DESCRIPTION.format(sse="", event="turn.done")
    )


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "tts-service"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class AudioModel(BaseModel):
    id: str
    name: str


class AudioModelList(BaseModel):
    models: list[AudioModel]


class VoiceCard(BaseModel):
    id: str
    name: str
    language: str
    lang_code: str
    gender: str


class VoiceList(BaseModel):
    voices: list[VoiceCard]


class AudioFormatCard(BaseModel):
    id: str = Field(description="The response_format value.")
    media_type: str = Field(description="The Content-Type of audio in this format.")
    extension: str = Field(description="A file name's extension for it.")
    streams: bool = Field(
        description="Whether a browser can play it while it downloads (Media Source Extensions "
        "for a container, Web Audio for bare samples); the others play once complete."
    )
    description: str


class AudioFormatList(BaseModel):
    default: str = Field(description="The response_format of a request that names none.")
    sample_rate: int = Field(description="Samples per second of every format (mono).")
    max_input_chars: int = Field(
        description="The most characters one speech request's `input` may have "
        "(TTS_MAX_INPUT_CHARS); a longer text is split by the caller, as the article reader does."
    )
    formats: list[AudioFormatCard]


class Usage(BaseModel):
    input_tokens: int = Field(description="Phoneme tokens fed to the model.")
    output_tokens: int = Field(description="Audio samples produced (24 kHz mono).")
    total_tokens: int = 0

    def model_post_init(self, _: object) -> None:
        self.total_tokens = self.input_tokens + self.output_tokens


class WordTimestamp(BaseModel):
    word: str = Field(description="A word of the input as spoken (markup removed).")
    start: float = Field(description="Seconds from the start of the audio of the whole stream.")
    end: float = Field(description="Seconds from the start of the audio of the whole stream.")


class SpeechAudioDelta(BaseModel):
    type: Literal["speech.audio.delta"] = "speech.audio.delta"
    audio: str = Field(description="Base64 of the next bytes of audio in response_format.")
    words: list[WordTimestamp] | None = Field(
        None,
        description="Only with `timestamps: true`: the words whose audio was synthesized since "
        "the previous event, in order (the audio bytes of the last of them may come in a later "
        "event: encoders buffer).",
    )


class SpeechAudioDone(BaseModel):
    type: Literal["speech.audio.done"] = "speech.audio.done"
    usage: Usage
    captions: str | None = Field(
        None,
        description="Only with `captions`: the captions of the whole stream, in that format.",
    )


class SpeechError(BaseModel):
    """Sent as an SSE event when synthesis fails after the stream started; the stream then ends."""

    type: Literal["error"] = "error"
    error: ErrorDetail


class CaptionWord(BaseModel):
    """A word of ``POST /v1/audio/captions``: what a ``speech.audio.delta`` event's ``words``
    hold, times offset by the caller where it joins several streams."""

    model_config = ConfigDict(extra="ignore", strict=True)

    word: str = Field(min_length=1, max_length=1000, description="The word as it is shown.")
    start: float = Field(ge=0, le=MAX_CAPTION_SECONDS, allow_inf_nan=False, description="Seconds.")
    end: float = Field(
        ge=0, le=MAX_CAPTION_SECONDS, allow_inf_nan=False,
        description="Seconds, not before `start`.",
    )  # fmt: skip

    @field_validator("word")
    @classmethod
    def _visible(cls, word: str) -> str:
        if not word.strip():
            raise ValueError("a word must not be empty or only spaces")
        return word

    @model_validator(mode="after")
    def _ends_after_start(self) -> CaptionWord:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class CaptionsRequest(BaseModel):
    """``POST /v1/audio/captions``."""

    model_config = ConfigDict(extra="ignore")

    words: list[CaptionWord] = Field(
        max_length=MAX_CAPTION_WORDS,
        description=f"The words in order of their starts; at most {MAX_CAPTION_WORDS}.",
    )
    format: CaptionFormat = Field("vtt", description="vtt: WebVTT; srt: SubRip.")

    @field_validator("words")
    @classmethod
    def _in_order(cls, words: list[CaptionWord]) -> list[CaptionWord]:
        for index in range(1, len(words)):
            if words[index].start < words[index - 1].start:
                raise ValueError(
                    f"word {index} starts ({words[index].start}) before word {index - 1} "
                    f"({words[index - 1].start}): the words must be in order of their starts"
                )
        return words
