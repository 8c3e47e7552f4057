// chat-tracer viewer: feedback without reloads, and the review queue's keyboard. No dependencies.
//
// Every form works without this file; it only makes labelling quicker:
//   a run's feedback section   (run page) its forms are sent with fetch and the section is
//                              redrawn from /runs/<id>/feedback; in the trace page's side panel
//                              pages.js sends them and redraws the whole panel
//   review queue               a label button chooses (aria-pressed) instead of sending; the key
//                              printed beside it chooses too; Enter saves the choices and goes
//                              to the next run; j / k next / previous; c the comment; "?" (app.js)
//                              lists the shortcuts. Keys never fire while typing in a field.
// Server HTML is parsed with DOMParser and its nodes moved in; data is never put in as HTML here.
(function () {
  "use strict";

  if (window.tracerFeedback) {
    return;
  }
  window.tracerFeedback = true;

  function sentenceOf(html, status) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var sentence = doc.querySelector(".error-message");
    return (sentence ? sentence.textContent : "The server answered " + status + ".").trim();
  }

  function showError(container, before, text) {
    var old = container.querySelector(".fb-error");
    if (old) {
      old.remove();
    }
    var p = document.createElement("p");
    p.className = "error-text fb-error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    container.insertBefore(p, before);
  }

  // --- a run's feedback section ------------------------------------------------------------

  function sendSection(section, form, submitter) {
    var data = new FormData(form);
    if (submitter && submitter.name) {
      data.append(submitter.name, submitter.value);
    }
    var back = form.elements.namedItem("next");
    var fragment = "/runs/" + encodeURIComponent(section.getAttribute("data-feedback-run")) + "/feedback";
    data.set("next", fragment + "?next=" + encodeURIComponent(back ? back.value : ""));
    section.setAttribute("aria-busy", "true");
    return fetch(form.action, { method: "POST", body: data, headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.text().then(function (html) {
          if (!response.ok) {
            showError(section, section.children[1] || null, sentenceOf(html, response.status));
            return;
          }
          var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("section.feedback");
          if (!fresh) {
            showError(section, section.children[1] || null, "The server sent no feedback section.");
            return;
          }
          var node = document.importNode(fresh, true);
          section.replaceWith(node);
          if (window.tracer && window.tracer.formatTimes) {
            window.tracer.formatTimes(node);
          }
          var status = document.createElement("p");
          status.className = "sr-only";
          status.setAttribute("role", "status");
          status.textContent = "Feedback saved.";
          node.appendChild(status);
        });
      })
      .catch(function (error) {
        showError(section, section.children[1] || null, "Could not reach the server: " + (error && error.message ? error.message : "network error") + ".");
      })
      .finally(function () {
        section.removeAttribute("aria-busy");
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var section = form.closest ? form.closest("section.feedback[data-feedback-run]") : null;
    if (!section || event.defaultPrevented || section.closest("#run-panel, .review-page")) {
      return;
    }
    event.preventDefault();
    sendSection(section, form, event.submitter);
  });

  // --- review queue ------------------------------------------------------------------------

  function reviewPage(page) {
    var form = page.querySelector("form.feedback-form");
    var keys = window.tracerKeys;
    if (!form || !keys) {
      return;
    }
    var save = form.querySelector(".fb-save");
    var chosen = {}; // field name -> hidden input carrying the choice

    function choose(button) {
      var group = button.closest(".fb-choices");
      var input = chosen[button.name];
      var again = input && input.value === button.value;
      group.querySelectorAll("button.fb-choice").forEach(function (other) {
        other.setAttribute("aria-pressed", "false");
      });
      if (again) {
        input.remove();
        delete chosen[button.name];
        return;
      }
      if (!input) {
        input = document.createElement("input");
        input.type = "hidden";
        input.name = button.name;
        form.appendChild(input);
        chosen[button.name] = input;
      }
      input.value = button.value;
      button.setAttribute("aria-pressed", "true");
    }

    function filled() {
      return Array.prototype.some.call(form.elements, function (el) {
        var labelled = el.name && (el.name.indexOf("label.") === 0 || el.name === "comment" || el.name === "correction" || el.name === "score");
        return labelled && el.type !== "submit" && el.value.trim() !== "";
      });
    }

    function submit() {
      if (!filled()) {
        showError(form, form.firstChild, "Choose a label first (the keys are on the buttons), or write a comment with another key.");
        return;
      }
      form.requestSubmit(save);
    }

    form.querySelectorAll("button.fb-choice").forEach(function (button) {
      button.setAttribute("aria-pressed", "false");
    });
    form.addEventListener("click", function (event) {
      var button = event.target.closest("button.fb-choice");
      if (button) {
        event.preventDefault();
        choose(button);
      }
    });
    page.querySelectorAll("[data-shortcut]").forEach(function (el) {
      var link = el.tagName.toLowerCase() === "a";
      keys.on(el.getAttribute("data-shortcut"), function () {
        if (link) {
          window.location.href = el.href;
        } else {
          choose(el);
        }
      }, link ? (el.rel === "next" ? "Skip to the next run" : "Go to the previous run") : "Choose " + el.getAttribute("aria-label"));
    });
    var comment = form.querySelector("[data-fb-comment]");
    if (comment) {
      keys.on("c", function () {
        comment.focus();
      }, "Write a comment");
    }
    keys.on("Enter", function (event) {
      var target = event.target;
      if (target && target.tagName && target.tagName.toLowerCase() === "a" && target.href) {
        window.location.href = target.href; // Enter on a link still follows it
        return;
      }
      submit();
    }, "Save the labels and go to the next run");
  }

  function start() {
    var page = document.querySelector(".review-page[data-review-run]");
    if (page) {
      reviewPage(page);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
