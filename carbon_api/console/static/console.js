// carbon-pipeline console: the page's ONE EventSource, multiplexed over every pipeline the page
// shows, plus small progressive enhancements (dialog, drag-and-drop, recalc mode). Server-rendered
// HTML (escaped by Jinja) is the only thing inserted; nothing here builds markup from data.
(function () {
  "use strict";
  var body = document.body;

  // One refresh per module at a time; a request arriving meanwhile runs once after it.
  // Each module's box is the source of its own request: htmx lets one request per source
  // element run and drops the ones that arrive meanwhile but the last, and without a source
  // every refresh came from <body>, so refreshing several modules at once fetched the
  // first and the last only (and the others stayed marked as refreshing, for good).
  var refreshing = {};
  function refreshModule(year, module) {
    var box = document.getElementById("module-" + module + "-status");
    if (!box || !window.htmx) return;
    if (refreshing[module]) { refreshing[module] = "again"; return; }
    refreshing[module] = true;
    var done = function () {
      showProgress(document);
      var again = refreshing[module] === "again";
      refreshing[module] = false;
      if (again) refreshModule(year, module);
      else syncExportState(year, module);
    };
    htmx.ajax("GET", box.getAttribute("data-refresh-url"),
              {source: box, target: box, swap: "outerHTML"}).then(done, done);
  }

  // results.csv holds every module's numbers: each card's results.csv warning is the year's
  // (data-export-state). A card refreshed with another one than the others had (a factor of
  // one module revised, its recalculation done) brings them along, so no card offers the
  // download without the warning, or with one that no longer holds.
  function syncExportState(year, module) {
    var box = document.getElementById("module-" + module + "-status");
    if (!box) return;
    var state = box.getAttribute("data-export-state");
    document.querySelectorAll(".module-status[data-export-state]").forEach(function (other) {
      var m = /^module-(\d+)-status$/.exec(other.id);
      if (m && other !== box && other.getAttribute("data-export-state") !== state) {
        refreshModule(year, m[1]);
      }
    });
  }

  var latest = {};  // pipeline id → its last event, for slots that appear after it arrived

  // A module card's "Recalculating…" links show the same text as the pipeline card's chunk
  // chip, from the same event, so the two never disagree.
  function showProgress(root) {
    root.querySelectorAll("[data-progress-of]").forEach(function (el) {
      var ev = latest[el.getAttribute("data-progress-of")];
      if (ev) el.textContent = ev.progress_text || "";
    });
  }

  function fill(slot, ev) {
    slot.innerHTML = ev.html;
    slot.setAttribute("data-status", ev.status);
  }

  function placeCard(ev) {
    var live = document.getElementById(ev.module ? "live-" + ev.module : "live-reference");
    if (!live) return null;
    var card = document.createElement("div");
    card.className = "pipeline-slot auto";
    card.setAttribute("data-pipeline", ev.id);
    live.prepend(card);
    return [card];
  }

  // Pipelines page: a row's live cells follow every event; an opened Details panel's live
  // part is fetched again when the pipeline's card changed (so Abort leaves with the last
  // active job, and "Recalculate what this run left" appears), once per change.
  var detailShown = {};  // pipeline id → the card html its Details panel was refreshed for
  function refreshDetail(id, ev) {
    var live = document.getElementById("pd-live-" + id);
    if (!live || !window.htmx || detailShown[id] === ev.html) return;
    detailShown[id] = ev.html;
    htmx.ajax("GET", live.getAttribute("data-live-url"), {target: live, swap: "outerHTML"});
  }
  var countsDue = null;  // one counts refresh for a burst of status changes
  function refreshCounts() {
    var box = document.getElementById("pipeline-counts");
    if (!box || !window.htmx || countsDue) return;
    countsDue = setTimeout(function () {
      countsDue = null;
      htmx.ajax("GET", box.getAttribute("data-counts-url"), {target: box, swap: "outerHTML"});
    }, 200);
  }
  function updateRow(ev) {
    var row = document.getElementById("row-" + ev.id);
    // What the row shows (a queued pipeline starting changes it, not its stored status).
    var shown = ev.display_status || ev.status;
    if (row && (row.getAttribute("data-row-status") !== ev.status ||
                row.getAttribute("data-row-shown") !== shown)) refreshCounts();
    if (row && ev.cells) {
      Object.keys(ev.cells).forEach(function (name) {
        var cell = row.querySelector('[data-cell="' + name + '"]');
        if (cell) cell.innerHTML = ev.cells[name];
      });
      row.setAttribute("data-row-status", ev.status);
      row.setAttribute("data-row-shown", shown);
    }
    refreshDetail(ev.id, ev);
  }
  // A panel opened while an event was on its way: catch up with the latest terminal one.
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll(".pd-live[data-status]").forEach(function (live) {
      var id = live.id.slice("pd-live-".length), ev = latest[id];
      if (ev && ev.terminal && live.getAttribute("data-status") !== ev.status) refreshDetail(id, ev);
    });
  });

  function onPipeline(msg) {
    var ev;
    try { ev = JSON.parse(msg.data); } catch (e) { return; }
    latest[ev.id] = ev;
    if (body.getAttribute("data-page") === "pipelines") updateRow(ev);
    var slots = Array.prototype.slice.call(
      document.querySelectorAll('[data-pipeline="' + ev.id + '"]'));
    var page = body.getAttribute("data-page");
    if (!slots.length && page === "data" && !ev.terminal) slots = placeCard(ev) || [];
    if (!slots.length && page === "pipelines") {
      var note = document.getElementById("new-pipelines");
      if (note && !document.getElementById("row-" + ev.id)) note.hidden = false;
    }
    slots.forEach(function (slot) { fill(slot, ev); });
    showProgress(document);
    var year = body.getAttribute("data-year");
    if (page === "data" && year && (ev.terminal || slots.length)) {
      // Once per change of what a module card shows (a phase or a type starting, ending):
      // an upload's pipeline stays RUNNING from its ingest to its aggregation, and its types
      // turn "recalculating" in between.
      var key = ev.id + ":" + (ev.stage || ev.status);
      if (!onPipeline.seen[key]) { onPipeline.seen[key] = true; refreshTouched(year, ev); }
    }
  }
  onPipeline.seen = {};

  // The modules a pipeline changes: its own and its types' (an equipment upload also
  // recalculates the research facilities); every module on the page for a pipeline of no
  // module (a reference upload makes the types that read it stale, in any module).
  function refreshTouched(year, ev) {
    var modules = ev.modules && ev.modules.length ? ev.modules : null;
    if (!modules) {
      modules = [];
      document.querySelectorAll("[data-refresh-url][id^=module-]").forEach(function (box) {
        var m = /^module-(\d+)-status$/.exec(box.id);
        if (m) modules.push(m[1]);
      });
    }
    modules.forEach(function (m) { refreshModule(year, m); });
  }

  // Back to this page after signing in again.
  function signInAgain(target) {
    location.href = target || (body.getAttribute("data-login") + "?next=" +
      encodeURIComponent(location.pathname + location.search));
  }

  // The stream refused, not dropped: the browser gives up for good after an answer other
  // than 200 (a laptop asleep overnight wakes past its 12 h session: the reconnection gets
  // 401), and the page would go on showing its last badges as if they were live. Ask the
  // server why, as htmx would: signed out → the sign-in page, back here after; anything
  // else → say that the page stopped updating. The probe is dropped once its headers are in.
  function streamRefused(url) {
    body.setAttribute("data-stream-state", "closed");
    var stop = window.AbortController ? new AbortController() : null;
    fetch(url, {credentials: "same-origin", signal: stop && stop.signal,
                headers: {"HX-Request": "true", "HX-Current-URL": location.href}})
      .then(function (r) {
        if (stop) stop.abort();
        if (r.status === 401) { signInAgain(r.headers.get("HX-Redirect")); return; }
        streamStopped();
      }, streamStopped);
  }

  // A note about the stream at the top of the page, once (text only, never HTML).
  function streamNote(id, className, role, text) {
    if (leaving || document.getElementById(id)) return;
    var note = document.createElement("p");
    note.id = id;
    note.className = className;
    note.setAttribute("role", role);
    note.textContent = text;
    var main = document.getElementById("main");
    if (main) main.insertBefore(note, main.firstChild);
  }

  function streamStopped() {
    streamNote("stream-stopped", "message error", "alert", "Live updates have stopped: " +
      "the server refused this page's event stream. Reload the page to see the current state.");
  }

  // Reconnecting (the server or the network is down): the browser retries every few
  // seconds for as long as it takes, and meanwhile nothing on the page changes. Past
  // PAUSED_AFTER_MS of it, say so; the note goes when the stream is back (which then
  // replays what ended meanwhile). A reconnection that succeeds at once shows nothing.
  var PAUSED_AFTER_MS = 5000;
  var pausedTimer = null;
  function streamPaused() {
    pausedTimer = null;
    streamNote("stream-paused", "warnbox", "status", "Live updates paused: reconnecting " +
      "to the server. What this page shows may be out of date until then.");
  }
  function stopPausedTimer() {
    if (pausedTimer) { clearTimeout(pausedTimer); pausedTimer = null; }
  }
  function streamBack() {
    stopPausedTimer();
    var note = document.getElementById("stream-paused");
    if (note) note.parentNode.removeChild(note);
    body.setAttribute("data-stream-state", "open");
  }

  var url = body.getAttribute("data-stream");
  if (url && window.EventSource) {
    var source = new EventSource(url);  // cookie-authenticated, same origin
    source.addEventListener("pipeline", onPipeline);
    source.addEventListener("signed-out", function () { source.close(); signInAgain(); });
    source.addEventListener("open", streamBack);
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) {
        stopPausedTimer();
        if (!leaving) streamRefused(url);
        return;
      }
      body.setAttribute("data-stream-state", "retrying");
      if (!pausedTimer) pausedTimer = setTimeout(streamPaused, PAUSED_AFTER_MS);
    });
    window.carbonStream = source;
  }

  // Signing out: the page is leaving for the sign-in page. A fragment request still in
  // flight reaches the server after the session is gone and is answered 401 with
  // HX-Redirect to the sign-in page, that fragment as its next page; followed, it raced the
  // sign-out's own redirect and could win (a suite run ended on that sign-in URL).
  // From the sign-out on, fragment answers are dropped and the stream is closed.
  var leaving = false;
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form && form.hasAttribute && form.hasAttribute("data-sign-out")) {
      leaving = true;
      if (window.carbonStream) window.carbonStream.close();
    }
  });
  document.addEventListener("htmx:beforeOnLoad", function (e) { if (leaving) e.preventDefault(); });

  // A refreshed module keeps its types list as the operator left it (remembered on every
  // toggle, re-applied after every swap, so concurrent refreshes cannot lose it).
  var openTypes = {};
  document.addEventListener("toggle", function (e) {
    var d = e.target;
    if (d.classList && d.classList.contains("types")) {
      var box = d.closest(".module-status");
      if (box) openTypes[box.id] = d.open;
    }
  }, true);

  // The toggle event is async: a click that lands while a refresh is being swapped in
  // toggles the old list, whose event, dispatched after the swap detached it, never reaches
  // the document. So the list's state is also read just before every swap (it differs from
  // what the server rendered only if the operator toggled it).
  document.addEventListener("htmx:beforeSwap", function (e) {
    var box = e.detail.target;
    if (!box || !box.classList || !box.classList.contains("module-status")) return;
    var d = box.querySelector("details.types");
    if (d && d.open !== (d.getAttribute("data-rendered-open") === "1")) openTypes[box.id] = d.open;
  });

  // A card the server just rendered (upload or recalculation response) may follow events
  // that already arrived: apply the latest one, and drop a card the stream placed for it.
  document.addEventListener("htmx:afterSettle", function (e) {
    Object.keys(openTypes).forEach(function (id) {
      var box = document.getElementById(id);
      var d = box && box.querySelector("details.types");
      if (d && d.open !== openTypes[id]) d.open = openTypes[id];
    });
    var root = e.detail.target || document;
    root.querySelectorAll("[data-pipeline]").forEach(function (slot) {
      var id = slot.getAttribute("data-pipeline");
      document.querySelectorAll('.pipeline-slot.auto[data-pipeline="' + id + '"]').forEach(
        function (auto) { if (auto !== slot) auto.remove(); });
      if (latest[id]) fill(slot, latest[id]);
    });
  });

  // One card per pipeline: a response for a pipeline that already has a card on the page
  // (a second click while it runs answers with the running one) is not added again; the
  // existing card takes its message and is highlighted instead.
  function highlight(slot) {
    slot.classList.remove("highlight");
    void slot.offsetWidth;  // restart the animation on a repeated click
    slot.classList.add("highlight");
    slot.setAttribute("data-highlights", String(1 + Number(slot.getAttribute("data-highlights") || 0)));
    if (slot.scrollIntoView) slot.scrollIntoView({block: "nearest"});
    clearTimeout(slot.highlightTimer);
    slot.highlightTimer = setTimeout(function () { slot.classList.remove("highlight"); }, 3000);
  }
  document.addEventListener("htmx:load", function (e) {
    var added = e.detail.elt;
    if (!added || !added.querySelectorAll || added === body) return;
    if (body.getAttribute("data-page") !== "data") return;
    var slots = added.matches && added.matches(".pipeline-slot[data-pipeline]") ? [added]
      : Array.prototype.slice.call(added.querySelectorAll(".pipeline-slot[data-pipeline]"));
    slots.forEach(function (slot) {
      var id = slot.getAttribute("data-pipeline");
      var existing = Array.prototype.filter.call(
        document.querySelectorAll('.pipeline-slot[data-pipeline="' + id + '"]'),
        function (s) { return s !== slot && !s.classList.contains("auto") && !added.contains(s); })[0];
      if (!existing) return;
      var started = slot.closest(".started");
      var note = started && started.querySelector(".message");
      var box = existing.closest(".started");
      var old = box && box.querySelector(".message");
      if (note && old) old.textContent = note.textContent;
      (started || slot).remove();
      highlight(existing);
    });
  });

  // "Details" buttons toggle: a second click collapses instead of fetching again.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var btn = e.detail.elt;
    if (!btn.hasAttribute || !btn.hasAttribute("data-toggle")) return;
    var target = document.getElementById(btn.getAttribute("aria-controls"));
    if (target && target.children.length) {
      e.preventDefault();
      target.innerHTML = "";
      btn.setAttribute("aria-expanded", "false");
    } else {
      btn.setAttribute("aria-expanded", "true");
    }
  });

  // Recalculation dialog: open after htmx loaded its fresh body; keep mode and boxes in step.
  document.addEventListener("htmx:afterSwap", function (e) {
    var dlg = e.detail.target && e.detail.target.closest && e.detail.target.closest("dialog");
    if (dlg && !dlg.open) {
      dlg.showModal();
      var first = dlg.querySelector("input, button");
      if (first) first.focus();
    }
  });
  // Each type's figure follows the mode: "Only stale types" rewrites what the planner picks
  // (incrementally), "All types" and "Only the checked types" every entry.
  function showScope(form) {
    var mode = form.querySelector('input[name="mode"]:checked');
    var which = mode && mode.value === "stale" ? "data-scope-stale" : "data-scope-full";
    form.querySelectorAll(".recalc-scope").forEach(function (el) {
      el.textContent = el.getAttribute(which);
    });
  }
  document.addEventListener("change", function (e) {
    var t = e.target;
    var form = t.closest && t.closest("form.recalc-form");
    if (!form) return;
    if (t.name === "mode" && t.value !== "selected") {
      form.querySelectorAll('input[name="det"]').forEach(function (box) {
        box.checked = t.value === "all" || box.getAttribute("data-stale") === "1";
      });
    } else if (t.name === "det") {
      var sel = form.querySelector('input[name="mode"][value="selected"]');
      if (sel) sel.checked = true;
    }
    showScope(form);
  });
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t.matches && t.matches("[data-close-dialog]")) {
      var dlg = t.closest("dialog");
      if (dlg) dlg.close();
    }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (form && form.classList && form.classList.contains("recalc-form") && e.detail.successful) {
      var dlg = form.closest("dialog");
      if (dlg) dlg.close();
    }
  });

  // Drag and drop onto an upload card fills its file input.
  document.querySelectorAll(".upload").forEach(function (zone) {
    var input = zone.querySelector('input[type="file"]');
    if (!input) return;
    zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("dragging"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("dragging"); });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      zone.classList.remove("dragging");
      if (e.dataTransfer && e.dataTransfer.files.length) input.files = e.dataTransfer.files;
    });
  });
})();

// Impact preview (preview_pages.py) and sortable tables. The preview's progress comes on the
// page's one stream (window.carbonStream, opened above): when its pipeline ends, the
// placeholder fetches the panel. No second EventSource; only server-rendered HTML is inserted.
(function () {
  "use strict";
  var ended = {};  // pipeline id → true once a terminal event for it arrived

  function loadPanel(box) {
    if (!window.htmx || box.getAttribute("data-loading")) return;
    box.setAttribute("data-loading", "1");
    htmx.ajax("GET", box.getAttribute("data-preview-url"), {target: box, swap: "outerHTML"});
  }
  // A placeholder inserted after its pipeline already ended loads at once.
  function loadEnded() {
    document.querySelectorAll("[data-preview-pipeline]").forEach(function (box) {
      if (ended[box.getAttribute("data-preview-pipeline")]) loadPanel(box);
    });
  }
  if (window.carbonStream) {
    window.carbonStream.addEventListener("pipeline", function (msg) {
      var ev;
      try { ev = JSON.parse(msg.data); } catch (e) { return; }
      if (!ev.terminal) return;
      ended[ev.id] = true;
      loadEnded();
    });
  }
  document.addEventListener("htmx:afterSettle", loadEnded);

  // A sortable table (th > button[data-sort]): sort its body by the column's data-value
  // (numerically when every value is a number; empty first), ascending then descending.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("button[data-sort]");
    if (!btn) return;
    var th = btn.closest("th"), table = th.closest("table"), body = table.tBodies[0];
    if (!body) return;
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    th.parentNode.querySelectorAll("th[aria-sort]").forEach(function (h) {
      h.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var rows = Array.prototype.filter.call(body.rows, function (r) { return r.cells.length > col; });
    var values = rows.map(function (r) {
      var c = r.cells[col];
      return c.hasAttribute("data-value") ? c.getAttribute("data-value") : c.textContent.trim();
    });
    var numeric = values.every(function (v) { return v === "" || isFinite(Number(v)); });
    var order = rows.map(function (r, i) { return i; });
    order.sort(function (a, b) {
      var x = values[a], y = values[b], r;
      if (numeric) {
        x = x === "" ? -Infinity : Number(x);
        y = y === "" ? -Infinity : Number(y);
        r = x < y ? -1 : x > y ? 1 : 0;
      } else {
        r = x.localeCompare(y);
      }
      return (asc ? r : -r) || a - b;
    });
    order.forEach(function (i) { body.appendChild(rows[i]); });
  });
})();
