// The program designer: each tier's minimum score has a number field (posted) and a slider (not posted) kept in step.
// A field marked invalid by the last full page loses the mark once edited: the problems beside its row, re-rendered
// as you type, say whether it is still wrong.
document.addEventListener("input", (event) => {
  const mirror = event.target.dataset && event.target.dataset.mirror && document.getElementById(event.target.dataset.mirror);
  if (mirror) mirror.value = event.target.value;
  if (event.target.getAttribute && event.target.getAttribute("aria-invalid") === "true") {
    event.target.removeAttribute("aria-invalid");
  }
});
