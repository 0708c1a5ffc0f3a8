/* The live view: the run's timeline (player/timeline.js) drawn as it happens with uPlot
 * (vendor/uplot): seconds of audio received (a solid step, a dot for each piece that arrived)
 * and played (dotted) against seconds since Play, the first audio marked by a vertical line and
 * the server's chunks, where the response tells them, by green dots. The colours and meaning
 * follow the TTFA benchmark's timeline plot (benchmarks/report.py): a received line that keeps
 * above the played line is a buffer that keeps ahead.
 *
 * The canvas is an image to screen readers; its text alternative is the summary under it, a
 * status region that speaks at the moments that matter (first audio, last byte, the end), not at
 * every redraw. What was drawn last is counted on window.ttsPlayer.liveView for tests. */

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { current, onRender, player } from "./state.js";

// matplotlib's default cycle, as the benchmark's plots use it.
const COLORS = { audio: "#1f77b4", firstAudio: "#d62728", chunk: "#2ca02c" };
const HEIGHT = 220;

let chart = null;
let spokenSummary = ""; // the last milestone the summary announced

export function initLiveView() {
  const box = document.getElementById("live-view-chart");
  const summary = document.getElementById("live-view-summary");
  player.liveView = { draws: 0, receivedPoints: 0, playedPoints: 0, chunkPoints: 0, firstAudio: null };
  const style = getComputedStyle(document.documentElement);
  const ink = style.getPropertyValue("--muted").trim() || "#5b6275";
  const grid = style.getPropertyValue("--border").trim() || "#d5d9e2";
  const axis = (label) => ({
    label, stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
  });
  const dots = (color, size) => ({ show: true, size, stroke: color, fill: color, width: 1 });
  const options = {
    width: Math.max(240, box.clientWidth),
    height: HEIGHT,
    legend: { show: false }, // the legend is the page's own (figcaption)
    cursor: { show: false },
    scales: {
      x: { time: false, range: (u, min, max) => [0, Math.max(1, max || 0)] },
      y: { range: (u, min, max) => [0, Math.max(1, (max || 0) * 1.05)] },
    },
    axes: [axis("seconds since Play"), axis("seconds of audio")],
    series: [
      {},
      {
        label: "received", stroke: COLORS.audio, width: 2, points: { show: false },
        paths: uPlot.paths.stepped({ align: 1 }),
      },
      { label: "pieces", stroke: COLORS.audio, paths: () => null, points: dots(COLORS.audio, 5) },
      { label: "played", stroke: COLORS.audio, width: 2, dash: [3, 4], spanGaps: true, points: { show: false } },
      { label: "server chunks", stroke: COLORS.chunk, paths: () => null, points: dots(COLORS.chunk, 7) },
    ],
    hooks: { draw: [drawFirstAudio] },
  };
  chart = new uPlot(options, columns(null), box);
  new ResizeObserver(() => chart.setSize({ width: Math.max(240, box.clientWidth), height: HEIGHT })).observe(box);
  onRender(() => {
    draw();
    announce(summary);
  });
}

/** A vertical line at the first audio, labelled. */
function drawFirstAudio(u) {
  const t = player.timeline && player.timeline.firstAudio;
  if (t == null) return;
  const x = Math.round(u.valToPos(t, "x", true));
  const { top, height } = u.bbox;
  const ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = COLORS.firstAudio;
  ctx.lineWidth = 2 * uPlot.pxRatio;
  ctx.beginPath();
  ctx.moveTo(x, top);
  ctx.lineTo(x, top + height);
  ctx.stroke();
  ctx.fillStyle = COLORS.firstAudio;
  ctx.font = `${12 * uPlot.pxRatio}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  const label = `first audio ${t.toFixed(2)} s`;
  const gap = 4 * uPlot.pxRatio;
  const fits = x + gap + ctx.measureText(label).width <= u.bbox.left + u.bbox.width;
  ctx.textAlign = fits ? "left" : "right"; // near the right edge: on the line's left
  ctx.fillText(label, fits ? x + gap : x - gap, top + 2 * uPlot.pxRatio);
  ctx.restore();
}

/** uPlot's aligned columns: one x for every time anything happened, each series null where
 * it has no point (the received step holds its value: the line is a step). */
function columns(timeline) {
  if (!timeline) return [[0], [0], [null], [0], [null]];
  const byTime = new Map();
  const at = (t) => {
    if (!byTime.has(t)) byTime.set(t, { pieces: null, played: null, chunk: null });
    return byTime.get(t);
  };
  at(0).played = 0;
  for (const [t, seconds] of timeline.received) at(t).pieces = seconds;
  for (const [t, seconds] of timeline.played) at(t).played = seconds;
  for (const [t, seconds] of timeline.chunks) at(t).chunk = seconds;
  const xs = [...byTime.keys()].sort((a, b) => a - b);
  const rows = xs.map((t) => byTime.get(t));
  let next = 0;
  let received = 0;
  const step = (t) => {
    while (next < timeline.received.length && timeline.received[next][0] <= t) received = timeline.received[next++][1];
    return received;
  };
  return [
    xs,
    xs.map(step),
    rows.map((row) => row.pieces),
    rows.map((row) => row.played),
    rows.map((row) => row.chunk),
  ];
}

function draw() {
  const timeline = player.timeline;
  if (!chart || !timeline) return;
  chart.setData(columns(timeline));
  Object.assign(player.liveView, {
    draws: player.liveView.draws + 1,
    receivedPoints: timeline.received.length,
    playedPoints: timeline.played.length,
    chunkPoints: timeline.chunks.length,
    firstAudio: timeline.firstAudio,
  });
}

/** The chart's text alternative, said again only when a milestone changes it. */
function describe(timeline, running) {
  if (!timeline) return "Press Play: audio received and played will be drawn here as it arrives.";
  const last = (series) => (series.length ? series[series.length - 1][1] : 0);
  const received = last(timeline.received);
  const played = last(timeline.played);
  const ahead = Math.max(0, received - played);
  const s = (value) => `${value.toFixed(1)} s`;
  if (timeline.firstAudio == null) {
    return running ? "Waiting for the first audio…" : "No audio was played.";
  }
  const first = `First audio at ${timeline.firstAudio.toFixed(2)} s`;
  if (running && timeline.responseDone == null) {
    return `${first}; ${s(received)} of audio received, buffered ${s(ahead)} ahead.`;
  }
  if (running) {
    return `${first}; all ${s(received)} of audio received at ${s(timeline.responseDone)}, buffered ${s(ahead)} ahead.`;
  }
  return `${first}; ${s(played)} played of ${s(received)} received.`;
}

function announce(summary) {
  const running = Boolean(current && current.active);
  const timeline = player.timeline;
  // The milestone, not the numbers, decides when to speak.
  const milestone = !timeline ? "idle" : [
    running, timeline.firstAudio != null, timeline.responseDone != null, player.runs,
  ].join();
  if (milestone === spokenSummary) return;
  spokenSummary = milestone;
  summary.textContent = describe(timeline, running);
}
