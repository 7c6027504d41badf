/// What the upload page and the review page share: the document head with the colour variables, and the script
/// helpers (escaping, percentages, a localiser's figures in words).
enum PageParts {
    static func head(title: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(title)</title>
        <style>
          :root { --fg:#1b1b1b; --muted:#555; --ai:#b3261e; --real:#1e6b35; --unsure:#8a5a00; --line:#ccc; }
          * { box-sizing: border-box; }
        """
    }

    static let script = #"""
const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c]));
const pct = p => p === undefined || p === null ? "–" : (100 * p).toFixed(1) + "%";
function figuresText(f) {
  if (!f) return "";
  if (f.testPristineFlagged !== undefined && f.testSplicedFlagged !== undefined && f.testPixelF1 !== undefined) return ` On its test split it marked regions in ${(100 * f.testPristineFlagged).toFixed(0)}% of untouched images and in ${(100 * f.testSplicedFlagged).toFixed(0)}% of images with a pasted AI region (pixel F1 ${f.testPixelF1.toFixed(2)}).`;
  if (f.pristineFlagged !== undefined) return ` On the ${f.pristineImages} untouched validation images its threshold was fitted on, it marked regions in ${(100 * f.pristineFlagged).toFixed(0)}%.`;
  return "";
}
// What a localiser found, in words, with how far to trust it (`hint` follows a positive finding).
function regionsText(res, hint) {
  return (res.containsAIRegion
      ? `AI regions: ${res.regions.length} marked by ${esc(res.model)} (${(100 * res.maskedFraction).toFixed(0)}% of the image)${hint ? "; " + hint : ""}.`
      : `AI regions: none found by ${esc(res.model)} (score ${res.score.toFixed(3)} below its threshold ${res.threshold.toFixed(3)}).`)
    + (res.fitted ? "" : " Its threshold was not fitted on validation data: treat the mask as a rough guide.") + figuresText(res.figures);
}
"""#
}
