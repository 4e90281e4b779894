// movierec swipe app: pick a user, swipe the card the server chooses, watch the list update live
// (server-sent events from /api/users/{id}/live). Plain JS, no build step, no dependencies.
"use strict";

const WORDS = { 1: "hate", 2: "dislike", 3: "like", 4: "love" };
const KEYS = { ArrowLeft: 1, ArrowDown: 2, ArrowUp: 3, ArrowRight: 4, 1: 1, 2: 2, 3: 3, 4: 4 };
const $ = (id) => document.getElementById(id);

const state = { user: null, shown: [], list: null, card: null, events: null, busy: false, updates: 0 };

async function api(path, options = {}) {
  const resp = await fetch(path, options);
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.error || `${resp.status} ${resp.statusText}`);
  return body;
}

function say(text) { $("status").textContent = text; }

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

function setControls(enabled) {
  for (const b of document.querySelectorAll(".pref")) b.disabled = !enabled || !state.card;
  $("skip").disabled = !enabled || !state.card;
  $("search").disabled = !enabled;
}

function showCard(movie, why) {
  state.card = movie;
  const card = $("card");
  card.dataset.movieId = movie ? movie.movie_id : "";
  $("card-why").textContent = why;
  $("card-title").textContent = movie ? movie.title : "Nothing left to show";
  $("card-year").textContent = movie && movie.year ? String(movie.year) : "";
  $("card-genres").replaceChildren(...(movie ? movie.genres : []).map((g) => el("li", { textContent: g })));
  const link = $("card-link");
  link.hidden = !movie;
  if (movie) link.href = movie.url;
  card.classList.remove("flash");
  void card.offsetWidth; // restart the animation
  card.classList.add("flash");
  setControls(!state.busy);
}

function showList(payload) {
  if (state.list && Date.parse(payload.generated_at) < Date.parse(state.list.generated_at)) return; // older
  const before = state.list ? new Set(state.list.items.map((i) => i.movie_id)) : null;
  state.list = payload;
  state.updates += 1;
  const fresh = before ? payload.items.filter((i) => !before.has(i.movie_id)).length : 0;
  $("list-meta").textContent = `model ${payload.model_version} · ${payload.strategy}` +
    (payload.variant ? ` · ${payload.variant}` : "") +
    ` · updated ${new Date(payload.generated_at).toLocaleTimeString()}` + (before ? ` · ${fresh} new` : "");
  $("list-heading").textContent = `Top ${payload.items.length} for user ${payload.user_id}`;
  const items = payload.items.map((item) => {
    const isNew = before !== null && !before.has(item.movie_id);
    const label = `${item.title}${item.year ? ` (${item.year})` : ""}`;
    const pick = el("button", { type: "button", title: "Rate this movie" },
      el("span", { className: "title", textContent: label }),
      el("span", { className: "sub", textContent: item.genres.join(" · ") }));
    pick.setAttribute("aria-label", `Rate ${label}${isNew ? ", new in your list" : ""}`);
    pick.addEventListener("click", () => { showCard(item, `#${item.rank} on your list, your pick`); $("card-title").focus(); });
    const li = el("li", { className: isNew ? "new" : "" }, pick);
    if (isNew) li.append(" ", el("span", { className: "badge", textContent: "new" }));
    li.dataset.movieId = item.movie_id;
    li.dataset.genres = item.genres.join("|");
    return li;
  });
  const list = $("list");
  list.replaceChildren(...items);
  list.dataset.updates = String(state.updates);
  list.dataset.strategy = payload.strategy;
  list.dataset.cause = payload.cause_event_id || "";
}

async function refreshList() {
  showList(await api(`/api/users/${state.user}/list`));
}

async function nextCard() {
  try {
    const card = await api(`/api/users/${state.user}/next?shown=${state.shown.join(",")}`);
    showCard(card, card.reason);
  } catch (err) {
    showCard(null, String(err.message));
  }
}

function listen(user) {
  // resolves once the stream is open: every later list of this user arrives on it
  return new Promise((resolve, reject) => {
    const events = new EventSource(`/api/users/${user}/live`);
    state.events = events;
    let opened = false;
    events.addEventListener("list", (ev) => {
      const payload = JSON.parse(ev.data);
      const count = state.list ? payload.items.filter((i) => !state.list.items.some((j) => j.movie_id === i.movie_id)).length : 0;
      showList(payload);
      say(`Your list changed (${payload.strategy}): ${count} new movie${count === 1 ? "" : "s"}.`);
    });
    events.onopen = () => {
      if (opened) refreshList().catch((err) => say(`Could not reload the list: ${err.message}`)); // reconnected
      opened = true;
      resolve();
    };
    events.onerror = () => { if (!opened) { events.close(); reject(new Error("the live list did not connect")); } };
  });
}

async function openUser(user) {
  if (state.events) state.events.close();
  Object.assign(state, { user, shown: [], list: null, card: null, events: null, busy: true, updates: 0 });
  setControls(false);
  $("user-id").value = String(user);
  history.replaceState(null, "", `?user=${user}`);
  say(`Opening user ${user}…`);
  try {
    await listen(user);
    await refreshList();
    await nextCard();
    say(`User ${user}: rate the card, your list updates as you go.`);
  } catch (err) {
    say(`Could not open user ${user}: ${err.message}`);
  } finally {
    state.busy = false;
    setControls(true);
  }
}

async function swipe(preference) {
  const movie = state.card;
  if (!movie || state.busy) return;
  state.busy = true;
  setControls(false);
  try {
    await api("/api/swipes", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user_id: state.user, movie_id: movie.movie_id, preference }),
    });
    state.shown.push(movie.movie_id);
    $("card").style.setProperty("--dx", preference > 2 ? "40px" : "-40px");
    say(`You ${WORDS[preference]} ${movie.title}. Your new list is on its way…`);
    await nextCard();
  } catch (err) {
    say(`Swipe not sent: ${err.message}`);
  } finally {
    state.busy = false;
    setControls(true);
  }
}

async function skip() {
  if (!state.card || state.busy) return;
  state.shown.push(state.card.movie_id);
  await nextCard();
}

let searchTimer = 0;
function search(query) {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => {
    const { items } = query.trim() ? await api(`/api/movies?q=${encodeURIComponent(query)}`) : { items: [] };
    $("search-results").replaceChildren(...items.map((movie) => {
      const label = `${movie.title}${movie.year ? ` (${movie.year})` : ""}`;
      const b = el("button", { type: "button", textContent: label });
      b.addEventListener("click", () => {
        showCard(movie, "your pick");
        $("search").value = "";
        $("search-results").replaceChildren();
        $("card-title").focus();
      });
      return el("li", {}, b);
    }));
  }, 150);
}

async function init() {
  $("card-title").tabIndex = -1;
  const start = await api("/api/start");
  $("known-users").replaceChildren(...start.known_users.map((u) => el("option", { value: String(u) })));
  $("user-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const user = Number($("user-id").value);
    if (Number.isSafeInteger(user) && user >= 0) openUser(user);
    else say("A user id is a whole number, 0 or more.");
  });
  $("new-user").addEventListener("click", async () => openUser((await api("/api/start")).new_user_id));
  for (const b of document.querySelectorAll(".pref")) b.addEventListener("click", () => swipe(Number(b.dataset.pref)));
  $("skip").addEventListener("click", skip);
  $("search").addEventListener("input", (ev) => search(ev.target.value));
  $("search-form").addEventListener("submit", (ev) => ev.preventDefault());
  document.addEventListener("keydown", (ev) => {
    if (ev.target.closest("input, textarea, select") || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const preference = KEYS[ev.key];
    if (preference && state.card && !state.busy) { ev.preventDefault(); swipe(preference); }
  });
  const wanted = new URLSearchParams(location.search).get("user");
  if (wanted !== null && /^\d+$/.test(wanted)) openUser(Number(wanted));
}

init().catch((err) => say(`The app could not start: ${err.message}`));
