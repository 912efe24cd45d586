// Keyboard grading: 1-5 grade the highlighted dimension and move to the next; Backspace goes back;
// c focuses the comment, Esc leaves it; Enter saves once every dimension is graded.
(function () {
  "use strict";
  const form = document.getElementById("rating");
  if (!form) { return; }
  const fields = Array.from(form.querySelectorAll("fieldset.grade"));
  const comment = document.getElementById("comment");
  let current = 0;
  function graded(fs) { return fs.querySelector("input:checked") !== null; }
  function show(index) {
    current = Math.max(0, Math.min(index, fields.length - 1));
    fields.forEach(function (fs, i) { fs.classList.toggle("current", i === current); });
    fields[current].scrollIntoView({block: "nearest"});
  }
  fields.forEach(function (fs, i) {
    fs.addEventListener("change", function () { show(i + 1); });
  });
  document.addEventListener("keydown", function (event) {
    if (event.target === comment) {
      if (event.key === "Escape") { comment.blur(); event.preventDefault(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key >= "1" && event.key <= "5") {
      const input = fields[current].querySelector('input[value="' + event.key + '"]');
      input.checked = true;
      show(current + 1);
      event.preventDefault();
    } else if (event.key === "Backspace") {
      show(current - 1);
      event.preventDefault();
    } else if (event.key === "c") {
      comment.focus();
      event.preventDefault();
    } else if (event.key === "Enter") {
      const missing = fields.findIndex(function (fs) { return !graded(fs); });
      if (missing >= 0) { show(missing); } else { form.requestSubmit(); }
      event.preventDefault();
    }
  });
  const first = fields.findIndex(function (fs) { return !graded(fs); });
  show(first < 0 ? 0 : first);
})();
