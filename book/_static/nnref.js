/* Display equations too wide for the column scroll sideways; mark them so
   that the reader sees it (book/_static/nnref.css draws a shadow on the side
   that has more and a scrollbar that does not hide).  Loaded by _config.yml
   (html_js_files); tests/test_browser.py checks every wide equation is marked. */
(function () {
  "use strict";
  function mark() {
    document.querySelectorAll('div.math mjx-container[display="true"]').forEach(function (box) {
      var wide = box.scrollWidth > box.clientWidth + 1;
      box.classList.toggle("nnref-scrolls", wide);
      if (wide) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("title", "Wider than the page: scroll sideways to see the whole equation");
      } else {
        box.removeAttribute("tabindex");
        box.removeAttribute("title");
      }
    });
  }
  function whenTypeset() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(mark);
    } else {
      mark();
    }
  }
  window.addEventListener("load", whenTypeset);
  var pending;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(mark, 150);
  });
})();
