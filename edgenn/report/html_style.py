"""The inline stylesheet and script of report.html.

Layout: one column of cards, figures in a grid whose tracks never ask for more than the
screen's width, images that shrink with it (max-width: 100 %; height: auto). A card never
widens the page: whatever is wider than the screen (a section's own wide table) scrolls
inside its card. Under 640 px
(a phone) the comparison table turns into one card per row, each cell beside its column's
name, so every column stays readable without sideways scrolling.

The script runs after load and writes what the browser laid out onto <body> as data-
attributes (images decoded, page width, table cells inside the screen, cards that stick
out of it); the headless-browser tests read them back, at phone and desktop widths. It
also wires the confusion-matrix menu (one variant, or all side by side).
"""

from __future__ import annotations

SCRIPT = """\
window.addEventListener("load", function () {
  var body = document.body;
  var images = Array.prototype.slice.call(document.images);
  var decoded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  body.setAttribute("data-images-total", String(images.length));
  body.setAttribute("data-images-decoded", String(decoded.length));
  var width = document.documentElement.clientWidth;
  function inside(box, right) {
    return box.width > 0 && box.left >= -0.5 && box.right <= right + 0.5;
  }
  var cells = Array.prototype.slice.call(document.querySelectorAll("#comparison-table td"));
  var frame = document.querySelector("#comparison .scroll");
  var edge = frame ? Math.min(width, frame.getBoundingClientRect().right) : width;
  var shown = cells.filter(function (c) { return inside(c.getBoundingClientRect(), edge); });
  var blocks = document.querySelectorAll("img, figure, .card, h1, .sub");
  var out = Array.prototype.slice.call(blocks).filter(function (b) {
    var box = b.getBoundingClientRect();
    return box.width > 0 && !inside(box, width);
  });
  var row = document.querySelector("#comparison-table tbody tr");
  body.setAttribute("data-viewport-width", String(width));
  body.setAttribute("data-scroll-width", String(document.documentElement.scrollWidth));
  body.setAttribute("data-cells-total", String(cells.length));
  body.setAttribute("data-cells-inside", String(shown.length));
  body.setAttribute("data-blocks-outside", String(out.length));
  body.setAttribute("data-row-display", row ? getComputedStyle(row).display : "");
});
document.addEventListener("DOMContentLoaded", function () {
  var select = document.getElementById("cm-select");
  if (!select) { return; }
  select.addEventListener("change", function () {
    document.querySelectorAll("figure.cm").forEach(function (figure) {
      figure.hidden = select.value !== "" && figure.dataset.label !== select.value;
    });
  });
});"""

CSS = """\
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --accent: #2f6fde;
        --ok: #199473; --skip: #b44d12; --fail: #ba2525; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
       sans-serif; color: var(--ink); background: #f5f7fa; }
main { max-width: 1400px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 16px; margin: 0 0 8px; }
.sub { color: var(--muted); margin: 0 0 20px; overflow-wrap: anywhere; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px;
        padding: 16px 18px; margin-bottom: 18px; min-width: 0; overflow-x: auto; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums;
        font-size: 13px; }
th, td { padding: 6px 6px; border-bottom: 1px solid var(--line); text-align: right;
         white-space: nowrap; }
th { font-size: 12px; font-weight: 600; color: var(--muted);
     background: #fafbfc; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
td.status { white-space: normal; min-width: 110px; max-width: 240px; text-align: left; }
td.noise { color: var(--muted); }
tr:hover td { background: #f0f4fa; }
tr.front td:first-child { box-shadow: inset 3px 0 0 var(--accent); }
.star { color: var(--accent); font-weight: 700; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
          margin-right: 6px; vertical-align: baseline; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
         font-weight: 600; color: #fff; }
.badge.ok { background: var(--ok); } .badge.skipped { background: var(--skip); }
.badge.failed, .badge.over { background: var(--fail); }
.badge.rec { background: var(--accent); } .badge.warn { background: #cb6e17; }
.reason { display: block; color: var(--muted); font-size: 12px; overflow-wrap: anywhere;
          white-space: normal; }
tr.skipped td, tr.failed td { color: var(--muted); }
tr.over-budget td { background: #fff5f5; }
.legend { color: var(--muted); font-size: 12px; margin: 10px 0 0; }
.banner { margin: 0 0 12px; padding: 8px 12px; border-radius: 6px; }
.banner.ok { background: #effcf6; border-left: 4px solid var(--ok); }
.banner.over { background: #fff5f5; border-left: 4px solid var(--fail); }
ul.recommended { margin: 0; padding-left: 0; list-style: none; }
ul.recommended li { padding: 4px 0; border-bottom: 1px solid var(--line); }
ul.recommended .reason { display: inline; margin-left: 6px; }
.rec-variant { font-weight: 600; color: var(--accent); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(520px, 100%), 1fr));
        gap: 18px; align-items: start; }
figure { margin: 0; min-width: 0; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 8px; }
ul.colour-key { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 8px 0 0;
                padding: 0; list-style: none; font-size: 12px; }
.cm-grid { display: grid; gap: 14px; align-items: start;
           grid-template-columns: repeat(auto-fill, minmax(min(280px, 100%), 1fr)); }
.cm figcaption { color: var(--ink); margin: 0 0 6px; }
.cm-pick { margin: 0 0 10px; } .cm-pick select { font: inherit; max-width: 100%; }
figure.cm[hidden] { display: none; }
.cm-scroll { overflow-x: auto; }
table.cm-table { width: auto; border-collapse: collapse; font-size: 11px; }
.cm-table th, .cm-table td { padding: 0; border: 1px solid #f0f2f5; text-align: center;
                             position: static; letter-spacing: 0; text-transform: none; }
.cm-small td, .cm-small th { width: 22px; height: 22px; }
.cm-medium td, .cm-medium th { width: 16px; height: 16px; font-size: 9px; }
.cm-dense td, .cm-dense th { width: 7px; height: 7px; font-size: 0; }
.cm-table th.cm-corner { font-size: 9px; width: auto; padding: 0 3px; }
ul.notes { margin: 0; padding-left: 18px; overflow-wrap: anywhere; }
footer { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
@media (max-width: 640px) {
  main { padding: 16px 10px 32px; }
  .card { padding: 12px 10px; }
  .scroll { overflow-x: visible; }
  #comparison-table thead, table.cards thead { display: none; }
  #comparison-table, #comparison-table tbody, table.cards, table.cards tbody {
    display: block; }
  #comparison-table tr, table.cards tr {
                         display: grid; grid-template-columns: 1fr 1fr; column-gap: 10px;
                         border: 1px solid var(--line); border-left: 4px solid
                         var(--target-color, var(--line)); border-radius: 6px;
                         margin-bottom: 10px; padding: 2px 0; }
  #comparison-table td, table.cards td {
                         display: flex; justify-content: space-between; gap: 8px;
                         min-width: 0; text-align: right; white-space: normal;
                         max-width: none; border-bottom: 1px dotted var(--line);
                         padding: 3px 8px; overflow-wrap: anywhere; }
  #comparison-table td.text { grid-column: 1 / -1; }
  #comparison-table tr.device-group { display: block; border: 0; margin: 16px 0 6px; }
  #comparison-table tr.device-group th { display: block; position: static;
                                         white-space: normal; }
  #comparison-table td::before, table.cards td::before {
                                 content: attr(data-label); color: var(--muted);
                                 font-size: 12px; text-align: left; flex: none; }
  #comparison-table td.status > span { text-align: right; }
  tr.front td:first-child { box-shadow: none; }
}
@media print { body { background: #fff; } .card { break-inside: avoid; } }"""
