"""hexgrad's ``KModel`` taken apart into the stages that streaming below the sentence needs.

``KModel.forward_with_tokens`` runs everything in one call. The same computation, in the same
order and with the same random draws, as four functions (the ONNX graph is cut at the same
places, ``onnx_stages``):

- ``text_stage``: tokens, style, speed → durations, text features aligned to frames (``asr``),
  F0 and energy (N): BERT, the prosody predictor and the text encoder;
- ``harmonic_source``: F0 → the generator's harmonic source as a spectrogram, for the whole
  chunk at once, so that a window of it keeps the phase (and the noise) it has in the whole;
- ``frame_rate_part``: the decoder up to its generator (``encode``, ``decode``, ``asr_res``, the
  F0 and N convolutions), at the frame rate;
- ``generate``: the iSTFTNet generator fed that source, for any run of frames (``render_many``:
  both on runs of frames of one or several chunks, stacked).

``frame_rate_part`` and ``generate`` restate ``Decoder.forward`` and ``Generator.forward``
(kokoro 0.9) with the source passed in instead of drawn inside; the sine generator's random
initial phase and noise are drawn in ``harmonic_source``, in the order ``KModel`` draws them, so
that with the same torch seed the stages give the whole model's samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F  # noqa: N812 - torch's own name for it

if TYPE_CHECKING:
    from kokoro.istftnet import Decoder, Generator
    from kokoro.model import KModel

SOURCE_FRAMES_PER_FRAME = 120
"""The harmonic source's STFT frames per 600-sample audio frame (hop of 5 samples); a chunk of
``T`` frames has ``120 × T + 1`` (the STFT is centred)."""


def text_stage(
    model: KModel, input_ids: torch.Tensor, ref_s: torch.Tensor, speed: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``KModel.forward_with_tokens`` up to its decoder: (durations (tokens + 2,), asr
    (1, 512, T), F0 (1, 2T), N (1, 2T)) for one sequence."""
    lengths = torch.full((1,), input_ids.shape[-1], device=input_ids.device, dtype=torch.long)
    text_mask = torch.arange(input_ids.shape[-1], device=input_ids.device).unsqueeze(0) + 1 > (
        lengths.unsqueeze(1)
    )
    bert = model.bert(input_ids, attention_mask=(~text_mask).int())
    d_en = model.bert_encoder(bert).transpose(-1, -2)
    s = ref_s[:, 128:]
    d = model.predictor.text_encoder(d_en, s, lengths, text_mask)
    x, _ = model.predictor.lstm(d)
    duration = torch.sigmoid(model.predictor.duration_proj(x)).sum(dim=-1) / speed
    durations = torch.round(duration).clamp(min=1).long().squeeze()
    tokens = torch.arange(input_ids.shape[1], device=input_ids.device)
    indices = torch.repeat_interleave(tokens, durations)
    alignment = torch.zeros((input_ids.shape[1], indices.shape[0]), device=input_ids.device)
    alignment[indices, torch.arange(indices.shape[0])] = 1
    alignment = alignment.unsqueeze(0)
    f0, n = model.predictor.F0Ntrain(d.transpose(-1, -2) @ alignment, s)
    asr = model.text_encoder(input_ids, lengths, text_mask) @ alignment
    return durations, asr, f0, n


def harmonic_source(generator: Generator, f0: torch.Tensor) -> torch.Tensor:
    """The generator's source for F0 (1, 2T): magnitude and phase of the STFT of the merged
    harmonics, (1, n_fft + 2, 120 T + 1)."""
    f0 = generator.f0_upsamp(f0[:, None]).transpose(1, 2)
    source, _noise, _uv = generator.m_source(f0)
    magnitude, phase = generator.stft.transform(source.transpose(1, 2).squeeze(1))
    return torch.cat([magnitude, phase], dim=1)


def frame_rate_part(
    decoder: Decoder, asr: torch.Tensor, f0: torch.Tensor, n: torch.Tensor, s: torch.Tensor
) -> torch.Tensor:
    """``Decoder.forward`` up to its generator: (1, 512, 2T) for T frames; ``s`` is the
    decoder's half of the style (1, 128)."""
    f0 = decoder.F0_conv(f0.unsqueeze(1))
    n = decoder.N_conv(n.unsqueeze(1))
    x = decoder.encode(torch.cat([asr, f0, n], dim=1), s)
    asr_res = decoder.asr_res(asr)
    residual = True
    for block in decoder.decode:
        if residual:
            x = torch.cat([x, asr_res, f0, n], dim=1)
        x = block(x, s)
        if block.upsample_type != "none":
            residual = False
    return x


def generate(
    generator: Generator, x: torch.Tensor, s: torch.Tensor, source: torch.Tensor
) -> torch.Tensor:
    """``Generator.forward`` with its ``harmonic_source`` given (the frames of ``x``'s run):
    audio (1, 1, 600 T)."""
    for i in range(generator.num_upsamples):
        x = F.leaky_relu(x, negative_slope=0.1)
        x_source = generator.noise_res[i](generator.noise_convs[i](source), s)
        x = generator.ups[i](x)
        if i == generator.num_upsamples - 1:
            x = generator.reflection_pad(x)
        x = x + x_source
        xs = generator.resblocks[i * generator.num_kernels](x, s)
        for j in range(1, generator.num_kernels):
            xs = xs + generator.resblocks[i * generator.num_kernels + j](x, s)
        x = xs / generator.num_kernels
    x = generator.conv_post(F.leaky_relu(x))
    half = generator.post_n_fft // 2 + 1
    return generator.stft.inverse(torch.exp(x[:, :half, :]), torch.sin(x[:, half:, :]))  # type: ignore[no-any-return]


Window = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int, int]
"""A chunk's whole features (asr, F0, N, the decoder's style, the source) and a run of frames."""


def render_many(model: KModel, windows: Sequence[Window]) -> torch.Tensor:
    """Audio (B, 1, 600 × L) of B runs of L frames each (from one chunk or several), stacked
    along the batch dimension and decoded in one call: the decoder's layers (its instance
    normalization included) treat each row on its own."""

    def rows(cut: Callable[[Window], torch.Tensor]) -> torch.Tensor:
        return torch.cat([cut(w) for w in windows], dim=0)

    x = frame_rate_part(
        model.decoder,
        rows(lambda w: w[0][..., w[5] : w[6]]),
        rows(lambda w: w[1][..., 2 * w[5] : 2 * w[6]]),
        rows(lambda w: w[2][..., 2 * w[5] : 2 * w[6]]),
        rows(lambda w: w[3]),
    )
    f = SOURCE_FRAMES_PER_FRAME
    source = rows(lambda w: w[4][..., f * w[5] : f * w[6] + 1])
    return generate(model.decoder.generator, x, rows(lambda w: w[3]), source)
