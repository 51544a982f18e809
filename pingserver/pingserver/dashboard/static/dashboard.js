/* Heartbeat dashboard: small enhancements over pages that work without JavaScript.
 *
 * - The list of checks refreshes itself: every few seconds it fetches the table as an HTML
 *   fragment (/dashboard/list) and swaps it in, keeping keyboard focus where it was.
 * - Filters and sorting apply as you type or choose, without a full page load.
 * - Copy buttons copy ping URLs and snippets.
 */
(function () {
  "use strict";

  var announcer = document.getElementById("announce");

  function announce(text) {
    if (!announcer) return;
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function localTimes(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        var utc = times[i].getAttribute("title");
        times[i].setAttribute("title", when.toLocaleString() + (utc ? " (" + utc + ")" : ""));
      }
    }
  }

  /* The list page ------------------------------------------------------------------------ */

  function setupList() {
    var region = document.getElementById("checks");
    var form = document.getElementById("filters");
    if (!region || !form) return;
    var every = (parseInt(region.getAttribute("data-refresh"), 10) || 5) * 1000;
    var source = region.getAttribute("data-src");
    var toggle = document.getElementById("autorefresh");
    var updated = document.getElementById("updated");
    var refreshBox = updated ? updated.parentNode : null;
    var timer = null;
    var pending = null;
    var typing = null;
    var lastSummary = summaryText();

    toggle.hidden = false;
    document.querySelector("label[for=autorefresh]").hidden = false;

    function summaryText() {
      var el = document.getElementById("summary");
      return el ? el.getAttribute("data-summary") : "";
    }

    function query() {
      var params = new URLSearchParams();
      var data = new FormData(form);
      data.forEach(function (value, name) {
        if (value) params.set(name, value);
      });
      if (params.get("sort") === "state") params.delete("sort");
      return params.toString();
    }

    function stale(text) {
      if (!updated) return;
      updated.textContent = text;
      refreshBox.classList.add("is-stale");
    }

    function fresh() {
      if (!updated) return;
      var now = new Date();
      updated.innerHTML = "";
      updated.appendChild(document.createTextNode("Updated "));
      var t = document.createElement("time");
      t.setAttribute("datetime", now.toISOString());
      t.textContent = now.toLocaleTimeString();
      updated.appendChild(t);
      refreshBox.classList.remove("is-stale");
    }

    function swap(html) {
      var active = document.activeElement;
      var focusId = active && active.id && region.contains(active) ? active.id : null;
      var scroller = region.querySelector(".table-scroll");
      var scrollLeft = scroller ? scroller.scrollLeft : 0;
      region.innerHTML = html;
      var newScroller = region.querySelector(".table-scroll");
      if (newScroller) newScroller.scrollLeft = scrollLeft;
      if (focusId) {
        var again = document.getElementById(focusId);
        if (again) again.focus({ preventScroll: true });
      }
      localTimes(region);
      var summary = summaryText();
      if (summary !== lastSummary) {
        announce("Checks now: " + summary);
        lastSummary = summary;
      }
      document.title = summary + " · Heartbeat";
    }

    function load(changedFilters) {
      var q = query();
      if (pending) pending.abort();
      var controller = new AbortController();
      pending = controller;
      region.setAttribute("aria-busy", "true");
      return fetch(source + (q ? "?" + q : ""), {
        credentials: "same-origin",
        headers: { "Accept": "text/html" },
        signal: controller.signal
      }).then(function (response) {
        if (response.status === 401) {
          stale("Signed out. Reload the page to sign in again.");
          toggle.checked = false;
          return null;
        }
        if (!response.ok) {
          stale("Not updated: the server answered " + response.status + ". Retrying.");
          return null;
        }
        return response.text();
      }).then(function (html) {
        if (html === null || html === undefined) return;
        swap(html);
        fresh();
        if (changedFilters) {
          window.history.replaceState(null, "", "/dashboard/" + (q ? "?" + q : ""));
        }
      }).catch(function (error) {
        if (error && error.name === "AbortError") return;
        stale("Not updated: the server did not answer. Retrying.");
      }).then(function () {
        if (pending === controller) {
          pending = null;
          region.removeAttribute("aria-busy");
        }
      });
    }

    function schedule() {
      window.clearTimeout(timer);
      timer = window.setTimeout(tick, every);
    }

    function tick() {
      if (toggle.checked && !document.hidden && !pending) {
        load(false).then(schedule, schedule);
      } else {
        schedule();
      }
    }

    function applyFilters() {
      schedule();
      load(true);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      applyFilters();
    });
    form.addEventListener("change", function (event) {
      if (event.target.name !== "q") applyFilters();
    });
    form.q.addEventListener("input", function () {
      window.clearTimeout(typing);
      typing = window.setTimeout(applyFilters, 250);
    });

    /* Sort headers, state counts and tags are links: apply them in place. */
    region.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-nav]");
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      var params = new URL(link.href, window.location.href).searchParams;
      /* Only what the link is about (data-nav="sort dir", "state", "tag"): the rest of its
         query was rendered with the filters of the last refresh, which may be older than
         the form (a filter changed while its refresh is still on the way). */
      var names = (link.getAttribute("data-nav") || "q state tag sort dir").split(" ");
      names.forEach(function (name) {
        var field = form.elements[name];
        var value = params.get(name) || (name === "sort" ? "state" : "");
        if (field.tagName === "SELECT" && value &&
            !field.querySelector("option[value='" + CSS.escape(value) + "']")) {
          var option = document.createElement("option");
          option.value = value;
          option.textContent = value;
          field.appendChild(option);
        }
        field.value = value;
      });
      applyFilters();
    });

    toggle.addEventListener("change", function () {
      announce(toggle.checked ? "Automatic refresh on" : "Automatic refresh off");
      if (toggle.checked) load(false);
    });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && toggle.checked) load(false);
    });
    schedule();
  }

  /* Copy buttons -------------------------------------------------------------------------- */

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    var text = target.value !== undefined ? target.value : target.textContent;
    var label = button.firstChild;
    copyText(text).then(function () {
      label.textContent = "Copied";
      announce("Copied to the clipboard");
    }, function () {
      if (target.select) target.select();
      announce("Could not copy: the text is selected, press Control+C to copy it");
    }).then(function () {
      window.setTimeout(function () { label.textContent = "Copy"; }, 2000);
    });
  });

  localTimes(document);
  setupList();
})();
