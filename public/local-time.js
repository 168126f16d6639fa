// Times for people, in their browser's time zone. The server renders every moment in UTC
// (`<time datetime=… data-local title="… UTC">`) and takes UTC back; this script shows those
// moments in local time (UTC stays in the tooltip) and keeps each reservation form's hidden UTC
// field in step with the local date and time the user picks (`<input data-utc-for=NAME>`).
// It only ever changes text and values of existing nodes, so the app's hydration is unaffected.

const pad = (n) => String(n).padStart(2, '0');

/** `2026-11-22 15:05` in local time. */
function localText(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** The zone's short name at that moment (`CET`, `GMT+5:30`). */
function zoneName(date) {
  const part = new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' })
    .formatToParts(date)
    .find((p) => p.type === 'timeZoneName');
  return part ? part.value : '';
}

/** `YYYY-MM-DDTHH:MM`, as datetime-local inputs hold it, for the local or the UTC wall clock. */
function inputValue(date, utc) {
  const [y, mo, d, h, mi] = utc
    ? [date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes()]
    : [date.getFullYear(), date.getMonth(), date.getDate(), date.getHours(), date.getMinutes()];
  return `${y}-${pad(mo + 1)}-${pad(d)}T${pad(h)}:${pad(mi)}`;
}

function localizeTime(el) {
  const date = new Date(el.getAttribute('datetime'));
  if (Number.isNaN(date.getTime())) return;
  const text = `${localText(date)} ${zoneName(date)}`.trim();
  const node = el.firstChild;
  if (node && node.nodeType === Node.TEXT_NODE) {
    if (node.nodeValue !== text) node.nodeValue = text;
  } else if (!node) {
    el.append(text);
  }
}

/** The hidden UTC field a local input stands for: its form's `input[name=NAME]`. */
function utcField(input) {
  return input.form && input.form.querySelector(`input[type=hidden][name="${input.dataset.utcFor}"]`);
}

function localizeInput(input) {
  const hidden = utcField(input);
  if (!hidden || input.dataset.localized === hidden.value) return;
  const date = new Date(`${hidden.value}Z`);
  if (!Number.isNaN(date.getTime())) input.value = inputValue(date, false);
  input.dataset.localized = hidden.value;
}

function localize(root) {
  root.querySelectorAll('time[data-local]').forEach(localizeTime);
  root.querySelectorAll('input[data-utc-for]').forEach(localizeInput);
}

// A local date and time typed or picked: the hidden field gets it in UTC.
document.addEventListener('input', (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || !input.dataset.utcFor) return;
  const hidden = utcField(input);
  const date = new Date(input.value); // no zone in the text: read as local time
  if (!hidden || Number.isNaN(date.getTime())) return;
  hidden.value = inputValue(date, true);
  input.dataset.localized = hidden.value;
}, true);

// Only what changed is looked at: new elements (a page rendered by the app) and text the app
// set back to UTC inside a <time>; other text changes (progress counters) cost nothing.
new MutationObserver((records) => {
  for (const record of records) {
    const target = record.target.nodeType === Node.ELEMENT_NODE ? record.target : record.target.parentElement;
    const time = target?.closest('time[data-local]');
    if (time) localizeTime(time);
    for (const node of record.addedNodes) {
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      if (node.matches('time[data-local]')) localizeTime(node);
      else if (node.matches('input[data-utc-for]')) localizeInput(node);
      else localize(node);
    }
  }
}).observe(document.documentElement, { childList: true, subtree: true, characterData: true });

localize(document);
