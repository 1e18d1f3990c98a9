// cmdaudit console: times in UTC or the browser's zone (remembered), keyboard navigation.
// No inline script anywhere: the CSP allows this file only.
"use strict";
(function () {
  var KEY = "cmdaudit-tz";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function offset(min) { var s = min < 0 ? "-" : "+"; min = Math.abs(min); return s + pad(Math.floor(min / 60)) + ":" + pad(min % 60); }
  function show(mode) {
    var times = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var t = times[i];
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) continue;
      if (mode === "local") {
        var off = -d.getTimezoneOffset();
        t.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " + offset(off);
      } else {
        t.textContent = d.toISOString().slice(0, 19).replace("T", " ") + " +00:00";
      }
    }
    var b = document.getElementById("tz-toggle");
    if (b) { b.textContent = mode === "local" ? "Local time" : "UTC"; b.setAttribute("aria-pressed", mode === "local" ? "true" : "false"); }
  }
  function mode() { try { return localStorage.getItem(KEY) === "local" ? "local" : "utc"; } catch (e) { return "utc"; } }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[tabindex], .entry[tabindex]")); }
  function move(step) {
    var all = rows();
    if (!all.length) return;
    var i = all.indexOf(document.activeElement);
    var next = all[Math.max(0, Math.min(all.length - 1, i < 0 ? 0 : i + step))];
    next.focus();
    next.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("DOMContentLoaded", function () {
    show(mode());
    var b = document.getElementById("tz-toggle");
    if (b) b.addEventListener("click", function () {
      var m = mode() === "local" ? "utc" : "local";
      try { localStorage.setItem(KEY, m); } catch (e) { /* private mode: this page only */ }
      show(m);
    });
    // Empty fields stay out of the URL: it holds the query, short enough to share.
    var form = document.querySelector("form.search");
    if (form) form.addEventListener("submit", function () {
      var fields = form.querySelectorAll("input[name], select[name]");
      for (var i = 0; i < fields.length; i++) {
        var f = fields[i];
        if (f.value === "" || (f.name === "range" && f.value === "all")) f.disabled = true;
      }
    });
    reveal();
    afterPaint(loadMore);
  });
  // After the next frame is painted: the first screen shows before the rest of a transcript is fetched and laid out.
  function afterPaint(f) { requestAnimationFrame(function () { setTimeout(f, 0); }); }
  // A deep link (#seq-N) lands on its command, also when that command comes with a later page.
  var revealed = false;
  function reveal() {
    if (revealed || !location.hash) return;
    var target = document.getElementById(location.hash.slice(1));
    if (!target) return;
    revealed = true;
    target.classList.add("target");
    target.scrollIntoView({ block: "center" });
    if (target.focus) target.focus({ preventScroll: true });
  }
  // A long transcript: the page holds its first screen; the rest comes a page at a time.
  function loadMore() {
    var m = document.getElementById("more");
    var url = m && m.getAttribute("data-next");
    if (!url) return;
    m.removeAttribute("data-next");
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) {
        m.insertAdjacentHTML("beforebegin", html);
        m.parentNode.removeChild(m);
        reveal();
        afterPaint(loadMore);
      })
      .catch(function (e) {
        m.classList.add("noend");
        m.firstChild.textContent = "The rest of this session could not be loaded (" + e.message + "): ";
      });
  }
  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "j" || e.key === "ArrowDown") { move(1); e.preventDefault(); }
    else if (e.key === "k" || e.key === "ArrowUp") { move(-1); e.preventDefault(); }
    else if (e.key === "/") { var q = document.getElementById("q"); if (q) { q.focus(); q.select(); e.preventDefault(); } }
    else if (e.key === "Enter" && e.target && e.target.getAttribute && e.target.getAttribute("data-href")) { location.href = e.target.getAttribute("data-href"); }
    else if (e.key === "n") { var n = document.getElementById("next-page") || document.querySelector("a[rel=next]"); if (n) location.href = n.getAttribute("href"); }
  });
})();
