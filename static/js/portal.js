// CONTINUUM portal: small progressive enhancements on top of htmx. Pages work without this file.
"use strict";

// Marks the page as scripted, for the few notes that only hold when htmx runs (e.g. "Live").
document.documentElement.classList.add("js");

// Polling fragments (marked data-poll-while-visible) only poll while the tab is visible.
// A CSP-safe stand-in for hx-trigger's "[document.visibilityState === 'visible']" filter,
// which htmx can only evaluate with eval.
document.addEventListener("htmx:confirm", function (event) {
  var source = event.detail.elt;
  if (source && source.hasAttribute("data-poll-while-visible") &&
      document.visibilityState !== "visible") {
    event.preventDefault();
  }
});

// Coming back to the tab refreshes live fragments at once instead of waiting for the next tick.
document.addEventListener("visibilitychange", function () {
  if (document.visibilityState !== "visible" || !window.htmx) {
    return;
  }
  document.querySelectorAll("[data-poll-while-visible]").forEach(function (element) {
    window.htmx.trigger(element, "portal:visible");
  });
});

// A polled fragment keeps its last good state when a poll fails or lands somewhere else (an
// error page, or the sign-in page after the session ended), instead of swapping that page in.
document.addEventListener("htmx:beforeSwap", function (event) {
  var source = event.detail.elt;
  if (!source || !source.hasAttribute("data-poll-while-visible")) {
    return;
  }
  var info = event.detail.pathInfo || {};
  var redirected = info.responsePath && info.requestPath &&
    info.responsePath.split("?")[0] !== info.requestPath.split("?")[0];
  if (event.detail.xhr.status >= 400 || redirected) {
    event.detail.shouldSwap = false;
    event.detail.isError = false;
  }
});

// A poll that lands after the person moved to another page (a boosted link swapped the body)
// is dropped: its out-of-band parts (the chart, the first-run guide) would find no target. The
// answer's events fire on the poll's own element, by then detached, so the guard listens there.
function guardPoll(element) {
  if (element.portalPollGuard) {
    return;
  }
  element.portalPollGuard = true;
  element.addEventListener("htmx:beforeSwap", function (event) {
    if (!element.isConnected) {
      event.detail.shouldSwap = false;
    }
  });
}
document.addEventListener("htmx:load", function (event) {
  var root = event.detail.elt;
  if (root && root.matches && root.matches("[data-poll-while-visible]")) {
    guardPoll(root);
  }
  if (root && root.querySelectorAll) {
    root.querySelectorAll("[data-poll-while-visible]").forEach(guardPoll);
  }
});

// A flash belongs to the page load that showed it. Once an htmx request swaps one section in
// place (an action's own notice comes with it), the old flash is stale and is cleared. Boosted
// navigations render their own flashes, and polling is not an action, so both leave them.
document.addEventListener("htmx:beforeSwap", function (event) {
  var source = event.detail.elt;
  if (!event.detail.shouldSwap || event.detail.boosted ||
      (source && source.hasAttribute("data-poll-while-visible"))) {
    return;
  }
  document.querySelectorAll(".flashes").forEach(function (flashes) {
    flashes.remove();
  });
});

// htmx keeps snapshots of visited pages in sessionStorage for the Back button. Signing out
// empties that cache, and so does any signed-out page (a session that ended elsewhere), so
// nothing a signed-in page showed can come back after the account is left.
var HISTORY_CACHE = "htmx-history-cache";
function clearHistoryCache() {
  try {
    sessionStorage.removeItem(HISTORY_CACHE);
    localStorage.removeItem(HISTORY_CACHE);
  } catch (error) {
    // storage disabled: there is no cache to clear
  }
}
document.addEventListener("submit", function (event) {
  if (event.target.hasAttribute("data-sign-out")) {
    clearHistoryCache();
  }
}, true);
function signedOut() {
  return !document.querySelector("[data-signed-in]");
}
if (signedOut()) {
  clearHistoryCache();
}
document.addEventListener("htmx:afterSettle", function () {
  if (signedOut()) {
    clearHistoryCache();
  }
});

// Screen readers: one polite live region (#announcer, in the layout) says what an action did.
// Swapped content marks its news with data-announce (a key created, copied or revoked, a plan
// changed); the region is emptied first so the same words are announced again.
function announce(text) {
  var region = document.getElementById("announcer");
  if (!region || !text) {
    return;
  }
  region.textContent = "";
  window.setTimeout(function () { region.textContent = text; }, 50);
}
document.addEventListener("portal:announce", function (event) {
  announce(event.detail && event.detail.text);
});

// After an htmx swap (not a poll, not a boosted page), focus goes to the result: the notice
// it carries, else a step that asks for attention, else the swapped section itself.
document.addEventListener("htmx:afterSettle", function (event) {
  var source = event.detail.elt;
  if (!source || event.detail.boosted || source.hasAttribute("data-poll-while-visible") ||
      source.hasAttribute("data-quiet-refresh")) {
    return;  // a page change, a poll, or a section refreshing itself after another's action
  }
  var target = event.detail.target;
  if (!target || !target.isConnected) {
    target = document.getElementById(target && target.id) || document.querySelector("main");
  }
  if (!target) {
    return;
  }
  var news = target.querySelector("[data-announce]");
  if (news) {
    announce(news.getAttribute("data-announce") || news.textContent.trim());
  }
  var focus = target.querySelector("[data-focus], .notice, .flash, [autofocus]") || target;
  if (!focus.hasAttribute("tabindex") && !focus.matches("a, button, input, select, textarea")) {
    focus.setAttribute("tabindex", "-1");
  }
  focus.focus({ preventScroll: false });
});

// A boosted page change moves focus to the new page's main content, as a page load would.
document.addEventListener("htmx:afterSettle", function (event) {
  if (!event.detail.boosted) {
    return;
  }
  // Its flash, inside main with role="status" or "alert", is read as the page is entered.
  var main = document.getElementById("main");
  if (main) {
    main.focus({ preventScroll: true });
  }
});

// Links that look like buttons (role="button") answer Space as buttons do.
document.addEventListener("keydown", function (event) {
  var link = event.target;
  if (event.key === " " && link.matches && link.matches("a[role='button']")) {
    event.preventDefault();
    link.click();
  }
});
