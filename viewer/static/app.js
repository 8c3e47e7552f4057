// chat-tracer viewer: helpers every page shares. No dependencies, no build step.
//
//   window.tracer.csrfToken()              the session's CSRF token (from <meta name="csrf-token">)
//   window.fetch                           adds X-CSRF-Token to same-origin non-GET requests
//   window.tracerKeys.on(key, fn, help)    a keyboard shortcut; returns a function that removes it
//   window.tracerKeys.off(key, fn)
//   window.tracer.formatTimes(root)        <time datetime> under root: relative ("3 min ago")
//   window.tracer.relativeTime(date)       the same text for one Date
//
// <time datetime="..."> shows relative time with the exact local time as its tooltip;
// data-format="local" shows the local date and time instead, data-format="none" leaves it.
// Data is always put into the page with textContent, never as HTML.
(function () {
  "use strict";

  var tracer = window.tracer || (window.tracer = {});

  // --- CSRF -------------------------------------------------------------------------------

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") || "" : "";
  }
  tracer.csrfToken = csrfToken;

  var SAFE = { GET: true, HEAD: true, OPTIONS: true, TRACE: true };
  var nativeFetch = window.fetch ? window.fetch.bind(window) : null;

  function sameOrigin(url) {
    try {
      return new URL(url, window.location.href).origin === window.location.origin;
    } catch (e) {
      return false;
    }
  }

  if (nativeFetch) {
    window.fetch = function (input, init) {
      var isRequest = typeof Request !== "undefined" && input instanceof Request;
      var method = ((init && init.method) || (isRequest ? input.method : "GET")).toUpperCase();
      var url = isRequest ? input.url : String(input);
      if (SAFE[method] || !sameOrigin(url)) {
        return nativeFetch(input, init);
      }
      var options = Object.assign({}, init || {});
      var headers = new Headers(options.headers || (isRequest ? input.headers : undefined));
      if (!headers.has("X-CSRF-Token")) {
        headers.set("X-CSRF-Token", csrfToken());
      }
      options.headers = headers;
      if (!options.credentials) {
        options.credentials = "same-origin";
      }
      return nativeFetch(input, options);
    };
  }

  // --- keyboard shortcuts ------------------------------------------------------------------

  var handlers = {}; // key -> [{fn, help}]

  function typing(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  var keys = {
    on: function (key, fn, help) {
      (handlers[key] || (handlers[key] = [])).push({ fn: fn, help: help || "" });
      return function () {
        keys.off(key, fn);
      };
    },
    off: function (key, fn) {
      var list = handlers[key] || [];
      handlers[key] = list.filter(function (h) {
        return h.fn !== fn;
      });
    },
    list: function () {
      var out = [];
      Object.keys(handlers).forEach(function (key) {
        handlers[key].forEach(function (h) {
          if (h.help) {
            out.push({ key: key, help: h.help });
          }
        });
      });
      return out;
    },
  };
  window.tracerKeys = keys;

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key === "Escape" && typing(event.target)) {
      event.target.blur();
      return;
    }
    if (typing(event.target)) {
      return;
    }
    var list = handlers[event.key];
    if (!list || !list.length) {
      return;
    }
    event.preventDefault();
    list.slice().forEach(function (h) {
      h.fn(event);
    });
  });

  // "/" (or an element's data-shortcut-focus key) focuses the search box.
  function bindFocusShortcuts() {
    document.querySelectorAll("[data-shortcut-focus]").forEach(function (el) {
      keys.on(el.getAttribute("data-shortcut-focus"), function () {
        el.focus();
        if (el.select) {
          el.select();
        }
      }, "Focus " + (el.getAttribute("aria-label") || "the search box"));
    });
  }

  // "?" shows the shortcuts of this page.
  var helpBox = null;
  function toggleHelp() {
    if (helpBox) {
      helpBox.remove();
      helpBox = null;
      return;
    }
    helpBox = document.createElement("aside");
    helpBox.className = "keys-help";
    helpBox.setAttribute("role", "dialog");
    helpBox.setAttribute("aria-label", "Keyboard shortcuts");
    var title = document.createElement("h2");
    title.textContent = "Keyboard shortcuts";
    helpBox.appendChild(title);
    var dl = document.createElement("dl");
    keys.list().forEach(function (item) {
      var dt = document.createElement("dt");
      var kbd = document.createElement("kbd");
      kbd.textContent = item.key;
      dt.appendChild(kbd);
      var dd = document.createElement("dd");
      dd.textContent = item.help;
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    helpBox.appendChild(dl);
    document.body.appendChild(helpBox);
  }
  keys.on("?", toggleHelp, "Show or hide this list");
  keys.on("Escape", function () {
    if (helpBox) {
      toggleHelp();
    }
  });

  // --- times -------------------------------------------------------------------------------

  var rtf = typeof Intl !== "undefined" && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" })
    : null;
  var UNITS = [
    ["year", 365 * 24 * 3600],
    ["month", 30 * 24 * 3600],
    ["week", 7 * 24 * 3600],
    ["day", 24 * 3600],
    ["hour", 3600],
    ["minute", 60],
    ["second", 1],
  ];

  function relativeTime(date, now) {
    var seconds = (date.getTime() - (now || Date.now())) / 1000;
    var abs = Math.abs(seconds);
    if (abs < 5) {
      return "just now";
    }
    for (var i = 0; i < UNITS.length; i++) {
      var unit = UNITS[i];
      if (abs >= unit[1] || unit[0] === "second") {
        var value = Math.round(seconds / unit[1]);
        if (rtf) {
          return rtf.format(value, unit[0]);
        }
        var n = Math.abs(value);
        var text = n + " " + unit[0] + (n === 1 ? "" : "s");
        return value < 0 ? text + " ago" : "in " + text;
      }
    }
    return date.toLocaleString();
  }
  tracer.relativeTime = relativeTime;

  function formatTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var mode = el.getAttribute("data-format") || "relative";
      if (mode === "none") {
        return;
      }
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) {
        return;
      }
      var exact = date.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
      });
      el.title = exact;
      el.textContent = mode === "local" ? exact : relativeTime(date, now);
    });
  }
  tracer.formatTimes = formatTimes;

  function start() {
    bindFocusShortcuts();
    formatTimes(document);
    window.setInterval(function () {
      formatTimes(document);
    }, 30000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
