/* The keyboard shortcuts: one table, read both by the key handler and by the list on the page,
 * so the list says what the keys do. Single keys (/ and ?) only act outside text fields, where
 * typing them would otherwise do nothing. */

/** `keys` as shown, `does` as said, `action` the name of the page's handler, `matches(event,
 * where)` when it applies (no action: the key is handled where it applies, listed here to be
 * documented). `where.live`: in the live box; `where.plain`: outside text fields, no modifier. */
export const SHORTCUTS = [
  {
    keys: [["Ctrl", "Enter"], ["⌘", "Enter"]], does: "Play the text (outside the live box)", action: "play",
    matches: (event, where) => event.key === "Enter" && (event.ctrlKey || event.metaKey) && !where.live,
  },
  { keys: [["Esc"]], does: "Stop playback or live speech", action: "stop", matches: (event) => event.key === "Escape" },
  {
    keys: [["/"]], does: "Go to the text box", action: "focusText",
    matches: (event, where) => event.key === "/" && where.plain,
  },
  {
    keys: [["?"]], does: "Go to this list of shortcuts", action: "showShortcuts",
    matches: (event, where) => event.key === "?" && where.plain,
  },
  { keys: [["Enter"]], does: "In the live box: speak what was typed (Shift+Enter: a new line)", action: null },
];

/** The table's action for this key press, or null. */
export function shortcutFor(event) {
  const target = event.target instanceof Element ? event.target : null;
  const inField = Boolean(target && target.closest("input, textarea, select, [contenteditable]"));
  const where = {
    live: Boolean(target && target.closest("#live")),
    plain: !inField && !event.ctrlKey && !event.metaKey && !event.altKey,
  };
  const shortcut = SHORTCUTS.find((s) => s.action && s.matches(event, where));
  return shortcut ? shortcut.action : null;
}

/** The table as a definition list: the keys, then what they do. */
export function listShortcuts(list) {
  list.textContent = "";
  for (const shortcut of SHORTCUTS) {
    const row = document.createElement("div");
    const keys = document.createElement("dt");
    shortcut.keys.forEach((combination, index) => {
      if (index) keys.append(" or ");
      combination.forEach((key, at) => {
        if (at) keys.append("+");
        const kbd = document.createElement("kbd");
        kbd.textContent = key;
        keys.append(kbd);
      });
    });
    const does = document.createElement("dd");
    does.textContent = shortcut.does;
    row.append(keys, does);
    list.append(row);
  }
}
