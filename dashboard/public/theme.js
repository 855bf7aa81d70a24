// The chosen theme (light, dark or system) is on <html> before the app's CSS applies.
(function () {
  var choice = "system";
  try {
    choice = window.localStorage.getItem("jobq.theme") || "system";
  } catch (e) {}
  var dark = choice === "dark" || (choice === "system" && window.matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
})();
