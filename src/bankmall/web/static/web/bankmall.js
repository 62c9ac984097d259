// Progressive enhancements only: every page works without JavaScript.
"use strict";
document.documentElement.classList.add("js");
document.addEventListener("change", (event) => {
  const form = event.target.closest("form[data-auto-submit]");
  if (form) {
    form.submit();
  }
});
// The site menu folds behind a "Menu" button on narrow screens (CSS decides when).
for (const toggle of document.querySelectorAll("[data-menu-toggle]")) {
  toggle.hidden = false;
}
document.addEventListener("click", (event) => {
  const toggle = event.target.closest("[data-menu-toggle]");
  if (toggle) {
    const open = toggle.closest(".site-nav").classList.toggle("menu-open");
    toggle.setAttribute("aria-expanded", String(open));
  }
});
