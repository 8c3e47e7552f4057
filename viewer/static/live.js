// chat-tracer viewer: live updates over server-sent events (viewer/live.py). No dependencies.
//
// Runs page: <tbody data-live-rows="<project>"> (scope from the closest [data-scope]) follows
//   /live/events?project=<project>&scope=<scope>. A run already listed (<tr data-run-id>) has
//   its status, latency, first token, tokens, cost and model cells updated; a new run is added
//   on top when the page is the newest-first list with no filter and no cursor. Columns are
//   named by <th data-col="..."> in the head, or else taken in the runs.html order (COLUMNS).
// Run page and trace panel: every .run-panel[data-run-id][data-status="running"] follows
//   /live/runs/<id>: streamed tokens grow the reply ([data-live-reply="<id>"]), the badge
//   ([data-live-status="<id>"]) and latency ([data-live-latency="<id>"]) change when it ends.
// The followed element gets data-live-connected="true" while its stream is connected.
//
// Data is put into the page with textContent and DOM calls only, never innerHTML.
(function () {
  "use strict";

  if (typeof window.EventSource === "undefined") {
    return;
  }

  var STATUSES = ["running", "success", "error", "pending"];

  // --- formatting (the same text as viewer/charts.py and the pages' filters) ----------------

  function duration(ms) {
    if (ms === null || ms === undefined) {
      return "–";
    }
    if (ms < 1) {
      return ms.toFixed(2) + " ms";
    }
    if (ms < 1000) {
      return Math.round(ms) + " ms";
    }
    if (ms < 60000) {
      return (ms / 1000).toFixed(2) + " s";
    }
    var minutes = Math.floor(ms / 60000);
    return minutes + " min " + Math.round((ms - minutes * 60000) / 1000) + " s";
  }

  function figure(value) {
    if (value === null || value === undefined) {
      return "–";
    }
    var magnitude = Math.abs(value);
    if (magnitude >= 1000000) {
      return (value / 1000000).toFixed(1) + "M";
    }
    if (magnitude >= 10000) {
      return Math.round(value / 1000) + "k";
    }
    if (magnitude >= 1000) {
      return (value / 1000).toFixed(1) + "k";
    }
    return String(value);
  }

  function cost(value) {
    if (value === null || value === undefined) {
      return "–";
    }
    if (value < 0.01) {
      return "$" + value.toFixed(6).replace(/0+$/, "").replace(/\.$/, "");
    }
    return "$" + value.toFixed(4);
  }

  // --- shared DOM helpers ------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  // A status badge: its text, its data-status, and its badge-<status> / s-<status> classes.
  function setStatus(node, status) {
    if (!node) {
      return;
    }
    node.textContent = status;
    STATUSES.forEach(function (s) {
      node.classList.remove("badge-" + s);
    });
    node.classList.add("badge-" + status);
    if (node.hasAttribute("data-status")) {
      node.setAttribute("data-status", status);
    }
  }

  function byData(name, value, root) {
    var nodes = (root || document).querySelectorAll("[" + name + "]");
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].getAttribute(name) === value) {
        return nodes[i];
      }
    }
    return null;
  }

  // An EventSource for url; `node` shows whether it is connected (data-live-connected).
  function stream(url, handlers, node) {
    var source = new EventSource(url);
    source.addEventListener("open", function () {
      node.setAttribute("data-live-connected", "true");
    });
    source.addEventListener("error", function () {
      node.setAttribute("data-live-connected", "false");
    });
    Object.keys(handlers).forEach(function (kind) {
      source.addEventListener(kind, function (event) {
        var data;
        try {
          data = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        handlers[kind](data, source);
      });
    });
    return source;
  }

  // --- one run: its reply grows as tokens arrive ---------------------------------------------

  var followed = {}; // run id -> the Run that follows it

  function Run(panel) {
    this.panel = panel;
    this.id = panel.getAttribute("data-run-id");
    this.text = "";
    this.started = null; // Date the run started, from its first op
    this.ended = false;
    this.timer = null;
    this.source = null; // its EventSource
  }

  Run.prototype.part = function (name) {
    return byData(name, this.id, this.panel) || byData(name, this.id, document);
  };

  // The reply: one assistant message whose text is every streamed piece so far.
  Run.prototype.showText = function () {
    var reply = this.part("data-live-reply");
    if (!reply || this.text === "") {
      return;
    }
    var body = reply.querySelector("[data-live-text]");
    if (!body) {
      while (reply.firstChild) {
        reply.removeChild(reply.firstChild);
      }
      var item = el("li", "message role-assistant live-message");
      item.appendChild(el("div", "message-role", "assistant"));
      var wrap = el("div", "message-body");
      body = el("div", "block-text live-text");
      body.setAttribute("data-live-text", "");
      wrap.appendChild(body);
      item.appendChild(wrap);
      reply.appendChild(item);
      reply.classList.add("streaming");
    }
    body.textContent = this.text;
  };

  Run.prototype.tokensOf = function (events) {
    var text = "";
    (events || []).forEach(function (event) {
      if (event && event.name === "new_token" && event.kwargs && typeof event.kwargs.token === "string") {
        text += event.kwargs.token;
      }
    });
    return text;
  };

  Run.prototype.apply = function (op) {
    if (op.op === "replace" && op.path === "") {
      var doc = op.value || {};
      this.text = this.tokensOf(doc.events);
      this.started = doc.start_time ? new Date(doc.start_time) : null;
      if (doc.status && doc.status !== "running") {
        this.finish(doc.status, doc);
      }
    } else if (op.op === "add" && op.path === "/events/-") {
      this.text += this.tokensOf([op.value]);
    } else if (op.op === "replace" && op.path === "/status" && op.value !== "running") {
      this.finish(op.value, null);
    } else if (op.op === "replace" && op.path === "/end_time" && op.value && this.started) {
      this.showLatency(new Date(op.value) - this.started);
    } else if (op.op === "replace" && op.path === "/outputs") {
      this.showOutputs(op.value);
    }
  };

  Run.prototype.showLatency = function (ms) {
    var cell = this.part("data-live-latency");
    if (cell && ms >= 0) {
      cell.textContent = duration(ms);
    }
  };

  // Outputs of a run that is not a chat (no reply list): pretty JSON, as the page shows it.
  Run.prototype.showOutputs = function (outputs) {
    var box = this.part("data-live-outputs");
    if (!box || outputs === null || outputs === undefined) {
      return;
    }
    var pre = el("pre", "json", JSON.stringify(outputs, null, 2));
    pre.setAttribute("data-live-outputs", this.id);
    box.parentNode.replaceChild(pre, box);
  };

  Run.prototype.tick = function () {
    var self = this;
    this.timer = window.setInterval(function () {
      if (self.ended || !document.contains(self.panel)) {
        self.stop();
        return;
      }
      if (self.started) {
        self.showLatency(Date.now() - self.started.getTime());
      }
    }, 250);
  };

  Run.prototype.finish = function (status, doc) {
    if (this.ended) {
      return;
    }
    this.ended = true;
    setStatus(this.part("data-live-status"), status);
    this.panel.setAttribute("data-status", status);
    if (doc && doc.end_time && doc.start_time) {
      this.showLatency(new Date(doc.end_time) - new Date(doc.start_time));
    }
    if (doc && doc.outputs) {
      this.showOutputs(doc.outputs);
    }
    var reply = this.part("data-live-reply");
    if (reply) {
      reply.classList.remove("streaming");
      var empty = reply.querySelector(".reply-empty");
      if (empty && status === "error") {
        empty.textContent = "No reply: the run failed.";
      }
    }
  };

  Run.prototype.stop = function () {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
    if (this.source) {
      this.source.close();
      this.source = null;
      this.panel.removeAttribute("data-live-connected");
    }
    if (followed[this.id] === this) {
      delete followed[this.id];
    }
  };

  function followRun(panel) {
    var id = panel.getAttribute("data-run-id");
    if (!id || panel.getAttribute("data-status") !== "running") {
      return;
    }
    var previous = followed[id];
    if (previous) {
      if (previous.panel === panel || document.contains(previous.panel)) {
        return;
      }
      previous.stop(); // its panel was replaced (the trace page redraws it): follow the new one
    }
    var run = (followed[id] = new Run(panel));
    run.source = stream("/live/runs/" + encodeURIComponent(id), {
      ops: function (data) {
        if (!document.contains(panel)) {
          run.stop();
          return;
        }
        (data.ops || []).forEach(function (op) {
          run.apply(op);
        });
        run.showText();
      },
      done: function (data) {
        run.finish(data.status || "success", null);
        run.stop();
      },
    }, panel);
    run.source.addEventListener("error", function () {
      if (run.source && run.source.readyState === EventSource.CLOSED) {
        run.stop(); // refused (404, 403...): a reconnect would be refused too
      }
    });
    run.tick();
  }

  var PANEL = ".run-panel[data-run-id][data-status]";

  function followRuns(root) {
    if (root.matches && root.matches(PANEL)) {
      followRun(root);
    }
    root.querySelectorAll(PANEL).forEach(followRun);
  }

  // --- a project's runs table: new runs on top, running ones updated -----------------------------

  // The runs table's columns, in order, when its head does not name them (<th data-col>).
  var COLUMNS = ["select", "name", "type", "status", "start", "latency", "ttft", "tokens", "cost", "model", "tags", "feedback", "trace"];
  // Query parameters under which a new run belongs on top of the page: any other (a filter,
  // a search, another sort, a later page) and the new run may not belong in this list at all.
  var NEWEST_FIRST = { scope: true, sort: "start", direction: "desc", limit: true };

  function newestFirst() {
    var ok = true;
    new URLSearchParams(window.location.search).forEach(function (value, key) {
      var allowed = NEWEST_FIRST[key];
      if (value !== "" && allowed !== true && allowed !== value) {
        ok = false;
      }
    });
    return ok;
  }

  function runQuery() {
    var params = new URLSearchParams(window.location.search);
    params.delete("cursor");
    var text = params.toString();
    return text ? "?" + text : "";
  }

  function columnsOf(table) {
    var named = [];
    if (table) {
      table.querySelectorAll("thead th").forEach(function (th) {
        named.push(th.getAttribute("data-col"));
      });
    }
    return named.length && named.every(Boolean) ? named : COLUMNS;
  }

  function badge(value) {
    return el("span", "badge badge-" + value, value);
  }

  // The text of the cells that change while a run is in progress.
  var LIVE_CELLS = {
    status: function (row, td) {
      var node = td.querySelector(".badge") || td.appendChild(badge(row.status));
      setStatus(node, row.status);
    },
    latency: function (row, td) {
      td.textContent = duration(row.latency_ms);
    },
    ttft: function (row, td) {
      td.textContent = duration(row.first_token_ms);
    },
    tokens: function (row, td) {
      td.textContent = figure(row.prompt_tokens) + " / " + figure(row.completion_tokens);
    },
    cost: function (row, td) {
      td.textContent = cost(row.cost);
    },
    model: function (row, td) {
      td.textContent = row.model_name || "";
    },
  };

  var NEW_CELLS = {
    select: function (row, td) {
      var box = el("input");
      box.type = "checkbox";
      box.name = "run";
      box.value = row.id;
      box.setAttribute("aria-label", "Select " + row.name);
      td.appendChild(box);
    },
    name: function (row, td) {
      td.className = "run-cell";
      var link = el("a", null, row.name);
      link.href = "/runs/" + encodeURIComponent(row.id) + runQuery();
      td.appendChild(link);
      if (row.error) {
        td.appendChild(el("div", "error-text error-excerpt", row.error));
      }
    },
    type: function (row, td) {
      td.appendChild(badge(row.run_type));
    },
    start: function (row, td) {
      td.className = "nowrap";
      var time = el("time", null, row.start_time);
      time.setAttribute("datetime", row.start_time);
      td.appendChild(time);
    },
    tags: function (row, td) {
      (row.tags || []).forEach(function (tag) {
        td.appendChild(el("span", "tag", tag));
      });
    },
    feedback: function () {},
    trace: function (row, td) {
      var link = el("a", null, "Trace");
      link.href = "/traces/" + encodeURIComponent(row.trace_id) + "?run=" + encodeURIComponent(row.id);
      td.appendChild(link);
    },
  };
  var NUMERIC = { latency: true, ttft: true, tokens: true, cost: true };

  function updateRow(tr, row, columns) {
    tr.className = tr.className.replace(/\bstatus-\S+/g, "").trim();
    tr.classList.add("status-" + row.status);
    tr.setAttribute("data-status", row.status);
    Array.prototype.forEach.call(tr.cells, function (td, i) {
      var fill = LIVE_CELLS[td.getAttribute("data-col") || columns[i]];
      if (fill) {
        fill(row, td);
      }
    });
  }

  function newRow(row, columns) {
    var tr = el("tr", "live-new status-" + row.status);
    tr.setAttribute("data-run-id", row.id);
    tr.setAttribute("data-status", row.status);
    columns.forEach(function (col) {
      var td = el("td", NUMERIC[col] ? "num" : col === "model" ? "wrap" : null);
      (NEW_CELLS[col] || LIVE_CELLS[col] || function () {})(row, td);
      tr.appendChild(td);
    });
    return tr;
  }

  function followProject(body) {
    var project = body.getAttribute("data-live-rows");
    var page = body.closest("[data-scope]");
    var scope = (page && page.getAttribute("data-scope")) || "root";
    var table = body.closest("table");
    var columns = columnsOf(table);
    var prepend = newestFirst();
    var url = "/live/events?project=" + encodeURIComponent(project) + "&scope=" + encodeURIComponent(scope);
    stream(url, {
      run: function (row) {
        var tr = byData("data-run-id", row.id, body);
        if (tr) {
          updateRow(tr, row, columns);
          return;
        }
        if (!prepend || !row.new) {
          return;
        }
        tr = newRow(row, columns);
        body.insertBefore(tr, body.firstChild);
        if (window.tracer && window.tracer.formatTimes) {
          window.tracer.formatTimes(tr);
        }
      },
    }, body);
  }

  // --- start ---------------------------------------------------------------------------------

  function start() {
    var link = el("link");
    link.rel = "stylesheet";
    var script = document.querySelector('script[src$="live.js"]');
    link.href = script ? script.getAttribute("src").replace(/live\.js(\?.*)?$/, "live.css") : "/static/live.css";
    document.head.appendChild(link);

    document.querySelectorAll("tbody[data-live-rows]").forEach(followProject);
    followRuns(document);
    // The trace page loads a run's panel when a node is selected: follow it if it is running.
    if (window.MutationObserver) {
      new MutationObserver(function (records) {
        records.forEach(function (record) {
          record.addedNodes.forEach(function (node) {
            if (node.nodeType === 1) {
              followRuns(node);
            }
          });
        });
      }).observe(document.body, { childList: true, subtree: true });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
