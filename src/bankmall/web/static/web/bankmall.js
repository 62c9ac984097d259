// Progressive enhancements only: every page works without JavaScript.
"use strict";
document.documentElement.classList.add("js");
document.addEventListener("change", (event) => {
  const form = event.target.closest("form[data-auto-submit]");
  if (form) {
    form.submit();
  }
});
