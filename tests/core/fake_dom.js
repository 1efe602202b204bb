// a minimal DOM, enough for samples.html's script to run in node (tests/core/test_corrected_scoring.py)
class Node {
  constructor(tag) { this.tagName = tag.toUpperCase(); this.children = []; this.dataset = {};
    this.style = {}; this.attrs = {}; this._text = ""; this.listeners = {};
    const self = this;
    this.classList = {toggle(c, on) { const s = new Set((self.className||"").split(" ").filter(Boolean)); if (on === undefined ? !s.has(c) : on) s.add(c); else s.delete(c); self.className=[...s].join(" "); },
                      add(c) { this.toggle(c, true); }, contains(c) { return (self.className||"").split(" ").includes(c); }}; }
  appendChild(c) { this.children.push(c); return c; }
  append(...cs) { for (const c of cs) this.children.push(typeof c === "string" ? new Text(c) : c); }
  replaceChildren(...cs) { this.children = [...cs]; }
  set textContent(v) { this._text = String(v); this.children = []; }
  get textContent() { return this._text + this.children.map(c => c.textContent).join(""); }
  setAttribute(k, v) { this.attrs[k] = v; } getAttribute(k) { return this.attrs[k]; }
  addEventListener(n, f) { (this.listeners[n] = this.listeners[n] || []).push(f); }
  scrollIntoView() {} click() {}
  querySelector() { return null; } querySelectorAll() { return []; }
}
class Text extends Node { constructor(t) { super("#text"); this._text = t; } }
const ids = {};
const doc = {
  body: new Node("body"),
  createElement: t => new Node(t), createTextNode: t => new Text(t),
  createElementNS: (ns, t) => new Node(t),
  getElementById: id => (ids[id] = ids[id] || new Node("div")),
  addEventListener(n, f) { (this.listeners = this.listeners || {})[n] = f; },
};
global.document = doc;
global.location = {hash: "#labelling=1"};
global.localStorage = {store: {}, getItem(k) { return this.store[k] || null; }, setItem(k, v) { this.store[k] = v; }};
global.window = {};
global.Blob = class { constructor(parts) { this.parts = parts; } };
global.URL = {createObjectURL: b => "blob:" + b.parts.join("").length};
const fs = require("fs");
const js = fs.readFileSync(process.argv[2], "utf8");
new Function("window", js.replace("window.TELLTALE_SAMPLES", "window.TELLTALE_SAMPLES"))(
  (() => { new Function("window", fs.readFileSync(process.argv[3], "utf8"))(global.window); return global.window; })());
const rows = ids["rows"].children;
const key = k => doc.listeners.keydown({key: k, target: {tagName: "BODY"}, preventDefault() {}});
const head = ids["head"].children.map(c => c.textContent);
key("Enter"); key("2"); key("j"); key("r");
const stored = JSON.parse(localStorage.getItem(Object.keys(localStorage.store)[0]));
process.stdout.write(JSON.stringify({rows: rows.length, head: head, stored: stored,
  download: ids["download"].textContent,
  current: ids["rows"].children.findIndex(tr => (tr.className || "").includes("current"))}));
