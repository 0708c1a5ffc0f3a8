/* The run's timeline, the live view's data: seconds of audio received and played against
 * seconds since Play, the picture the TTFA benchmark draws after the fact (benchmarks/report.py,
 * plot_timelines), recorded as it happens. Kept on window.ttsPlayer.timeline for tests:
 *   arrivals  [t, bytes so far]    each piece of audio as it arrived from the network
 *   received  [t, seconds]         the same pieces as seconds of audio (bytes × secondsPerByte)
 *   played    [t, seconds]         seconds of audio heard by then, sampled while the run lasts
 *   chunks    [t, seconds]         the server's chunks where the response tells them (live mode:
 *                                  each `text.spoken`), at the audio received by then
 *   firstAudio t                   the player's own first-audio time (ttfaMs / 1000)
 *   responseDone t                 the last byte arrived
 * t is seconds since Play (the run's clickedAt). Compressed formats are measured in bytes until
 * the browser has decoded some: secondsPerByte is null until then (Blob: until the download is
 * complete) and `received` is recomputed from `arrivals` whenever it changes. */

function emptyTimeline() {
  return {
    arrivals: [], received: [], played: [], chunks: [], firstAudio: null, responseDone: null,
    secondsPerByte: null,
  };
}

/** A new run started at `clickedAt` (performance.now() ms). */
export function startTimeline(player) {
  player.timeline = emptyTimeline();
}

function since(player, at = performance.now()) {
  return (at - player.clickedAt) / 1000;
}

/** A piece of audio arrived; `player.bytes` already counts it. */
export function recordArrival(player) {
  const timeline = player.timeline;
  timeline.arrivals.push([since(player), player.bytes]);
  updateReceived(timeline);
}

export function recordFirstAudio(player) {
  player.timeline.firstAudio = since(player, player.firstPlaybackAt);
}

export function recordResponseDone(player) {
  player.timeline.responseDone = since(player, player.responseDoneAt);
}

/** The server reported a chunk (live mode: `text.spoken`). */
export function recordChunk(player) {
  const t = since(player);
  player.timeline.chunks.push([t, receivedAt(player.timeline, t)]);
}

/** Sample the run's playback: `secondsPerByte` and `playedSeconds` come from its path (null
 * while unknown). Played audio never goes back: a stopped element rewinds to 0, what was heard
 * stays heard. */
export function sampleTimeline(player, secondsPerByte, playedSeconds) {
  const timeline = player.timeline;
  if (secondsPerByte && secondsPerByte !== timeline.secondsPerByte) {
    timeline.secondsPerByte = secondsPerByte;
    updateReceived(timeline);
  }
  if (playedSeconds == null) return;
  const last = timeline.played[timeline.played.length - 1];
  const heard = Math.max(playedSeconds, last ? last[1] : 0);
  timeline.played.push([since(player), heard]);
}

function updateReceived(timeline) {
  const ratio = timeline.secondsPerByte;
  if (!ratio) return;
  if (timeline.received.length === timeline.arrivals.length - 1) {
    const [t, bytes] = timeline.arrivals[timeline.arrivals.length - 1];
    timeline.received.push([t, bytes * ratio]); // the usual case: one more piece
  } else {
    timeline.received = timeline.arrivals.map(([t, bytes]) => [t, bytes * ratio]);
  }
  for (const chunk of timeline.chunks) {
    chunk[1] = receivedAt(timeline, chunk[0]);
  }
}

/** Seconds of audio received by `t` (the step the chart draws). */
function receivedAt(timeline, t) {
  let seconds = 0;
  for (const [at, value] of timeline.received) {
    if (at > t) break;
    seconds = value;
  }
  return seconds;
}
