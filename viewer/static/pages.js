// chat-tracer viewer: behaviour of the pages (runs, trace, run, compare). No dependencies.
//
// Every page works without this file; it only makes them quicker to use:
//   trace page   clicking a node (or Enter, arrows, j/k) loads its details into the side panel
//                from /runs/<id>/panel and updates ?run= (history.replaceState); feedback
//                posted from the panel reloads the panel only
//   run page     j / k go to the next / previous run (window.tracerKeys when app.js is there)
//   runs page    "Compare selected" is enabled once two runs are ticked; empty filter fields
//                are left out of the URL
// The panel is an HTML fragment rendered (and escaped) by our server: it is parsed with
// DOMParser and its nodes moved in; no data is ever put into the page as HTML here.
(function () {
  "use strict";

  function onKey(key, fn, help) {
    if (window.tracerKeys && window.tracerKeys.on) {
      window.tracerKeys.on(key, fn, help);
      return;
    }
    document.addEventListener("keydown", function (event) {
      var tag = event.target && event.target.tagName ? event.target.tagName.toLowerCase() : "";
      if (event.key !== key || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) {
        return;
      }
      if (tag === "input" || tag === "textarea" || tag === "select" || (event.target && event.target.isContentEditable)) {
        return;
      }
      event.preventDefault();
      fn(event);
    });
  }

  function replaceWithFragment(container, html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var nodes = Array.prototype.map.call(doc.body.childNodes, function (node) {
      return document.importNode(node, true);
    });
    container.replaceChildren.apply(container, nodes);
    if (window.tracer && window.tracer.formatTimes) {
      window.tracer.formatTimes(container);
    }
  }

  // --- trace page --------------------------------------------------------------------------

  function tracePage(tree) {
    var panel = document.getElementById("run-panel");
    var items = Array.prototype.slice.call(tree.querySelectorAll("a[data-run]"));
    var pending = null;

    function current() {
      return tree.querySelector('a[aria-selected="true"]');
    }

    function mark(link) {
      var old = current();
      if (old) {
        old.removeAttribute("aria-selected");
        old.removeAttribute("aria-current");
      }
      link.setAttribute("aria-selected", "true");
      link.setAttribute("aria-current", "true");
    }

    function panelUrl(id) {
      return "/runs/" + encodeURIComponent(id) + "/panel";
    }

    function load(url, init) {
      if (pending) {
        pending.abort();
      }
      pending = new AbortController();
      var options = Object.assign({ headers: { Accept: "text/html" }, signal: pending.signal, credentials: "same-origin" }, init || {});
      panel.setAttribute("aria-busy", "true");
      var posting = options.method === "POST";
      return fetch(url, options)
        .then(function (response) {
          return response.text().then(function (html) {
            if (response.ok) {
              replaceWithFragment(panel, html);
              bindPanel();
              return;
            }
            // An error page: show its sentence, keep the panel (and what was typed) in place.
            var doc = new DOMParser().parseFromString(html, "text/html");
            var sentence = doc.querySelector(".error-message");
            showError((sentence ? sentence.textContent : "The server answered " + response.status + ".").trim(), !posting);
          });
        })
        .catch(function (error) {
          if (error && error.name === "AbortError") {
            return;
          }
          showError("Could not reach the server: " + (error && error.message ? error.message : "network error") + ".", !posting);
        })
        .finally(function () {
          panel.removeAttribute("aria-busy");
        });
    }

    function showError(text, replace) {
      var p = document.createElement("p");
      p.className = "error-text panel-error";
      p.setAttribute("role", "alert");
      p.textContent = text;
      var old = panel.querySelector(".panel-error");
      if (old) {
        old.remove();
      }
      if (replace) {
        panel.replaceChildren(p);
      } else {
        panel.insertBefore(p, panel.firstChild);
      }
    }

    function select(link, focus) {
      if (!link) {
        return;
      }
      mark(link);
      if (focus) {
        link.focus();
      }
      var id = link.getAttribute("data-run");
      var url = new URL(window.location.href);
      url.searchParams.set("run", id);
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
      load(panelUrl(id));
    }

    function bindPanel() {
      panel.querySelectorAll("form.feedback-form").forEach(function (form) {
        form.addEventListener("submit", function (event) {
          event.preventDefault();
          var runId = panel.querySelector("[data-run-id]");
          var data = new FormData(form);
          if (event.submitter && event.submitter.name) {
            data.append(event.submitter.name, event.submitter.value);
          }
          if (runId) {
            data.set("next", panelUrl(runId.getAttribute("data-run-id")));
          }
          load(form.action, { method: "POST", body: data });
        });
      });
    }

    tree.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-run]");
      if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) {
        return;
      }
      event.preventDefault();
      select(link, false);
    });

    function step(delta) {
      var at = items.indexOf(document.activeElement);
      if (at < 0) {
        at = items.indexOf(current());
      }
      var next = items[Math.min(items.length - 1, Math.max(0, at + delta))];
      return next;
    }

    tree.addEventListener("keydown", function (event) {
      var target = null;
      if (event.key === "ArrowDown") {
        target = step(1);
      } else if (event.key === "ArrowUp") {
        target = step(-1);
      } else if (event.key === "Home") {
        target = items[0];
      } else if (event.key === "End") {
        target = items[items.length - 1];
      } else {
        return;
      }
      event.preventDefault();
      if (target) {
        target.focus();
      }
    });

    onKey("j", function () { select(step(1), true); }, "Select the next run of the trace");
    onKey("k", function () { select(step(-1), true); }, "Select the previous run of the trace");
    bindPanel();
    var selected = current();
    if (selected && selected.scrollIntoView) {
      selected.scrollIntoView({ block: "nearest" });
    }
  }

  // --- run page ----------------------------------------------------------------------------

  function runPage(nav) {
    nav.querySelectorAll("a[data-key]").forEach(function (link) {
      var key = link.getAttribute("data-key");
      onKey(key, function () {
        window.location.href = link.href;
      }, key === "j" ? "Go to the next run" : "Go to the previous run");
    });
  }

  // --- runs page ---------------------------------------------------------------------------

  function runsPage(page) {
    var form = page.querySelector("form.compare-form");
    var button = form && form.querySelector("[data-compare-button]");
    if (form && button) {
      var label = button.textContent;
      var update = function () {
        var n = form.querySelectorAll('input[name="run"]:checked').length;
        button.disabled = n < 2;
        button.textContent = n ? label + " (" + n + ")" : label;
        button.title = n < 2 ? "Tick two or more runs to compare them" : "";
      };
      form.addEventListener("change", update);
      update();
    }
    var filters = page.querySelector("form.filters");
    if (filters) {
      filters.addEventListener("submit", function () {
        Array.prototype.forEach.call(filters.elements, function (el) {
          if (el.name && !el.value) {
            el.disabled = true; // left out of the query string
          }
        });
        window.setTimeout(function () {
          Array.prototype.forEach.call(filters.elements, function (el) { el.disabled = false; });
        }, 0);
      });
    }
  }

  function start() {
    var tree = document.querySelector(".tree[data-trace]");
    if (tree) {
      tracePage(tree);
    }
    var nav = document.querySelector(".run-nav");
    if (nav) {
      runPage(nav);
    }
    var runs = document.querySelector(".runs-page");
    if (runs) {
      runsPage(runs);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
