// Batch review: the header checkbox selects or clears every row of the group.
document.addEventListener("DOMContentLoaded", () => {
  const all = document.getElementById("select-all");
  if (!all) return;
  const picks = () => Array.from(document.querySelectorAll("input.pick"));
  all.addEventListener("change", () => {
    for (const box of picks()) box.checked = all.checked;
  });
  for (const box of picks()) {
    box.addEventListener("change", () => {
      const boxes = picks();
      all.checked = boxes.every((b) => b.checked);
      all.indeterminate = !all.checked && boxes.some((b) => b.checked);
    });
  }
});
