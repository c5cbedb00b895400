# Reference values for tests/test_designs.py: MatchIt greedy nearest-neighbour
# matching on the logit of a glm propensity score with a 0.2-SD caliper,
# treated units taken in descending PS order (MatchIt's m.order = "largest").
# Run from the repository root:  Rscript tests/r/matchit_reference.R
# Output: tests/r/matchit_reference.csv (one row per unit and setting) and
#         tests/r/matchit_reference_ps.csv (glm propensity scores).
#
# Note: with MatchIt 4.5.1 as installed here, the vectorised code path
# (distance = "glm", link = "linear.logit", caliper = 0.2) ignored or
# misapplied the caliper (on this fixture caliper = 0.01 still matched all 68
# treated with pair distances up to 0.87 on the logit scale; on lalonde
# caliper = 0.2 and 0.001 both gave 250 matched units). We therefore pass the
# same distance as a matrix |logit(ps_i) - logit(ps_j)| with the caliper
# 0.2 * sd(logit ps over all units) and std.caliper = FALSE, which runs
# MatchIt's general nn_matchC. A matrix forces m.order = "data", so the rows
# are first sorted by descending PS: this is exactly m.order = "largest".
suppressMessages(library(MatchIt))
d0 <- read.csv("tests/r/matchit_fixture.csv", stringsAsFactors = FALSE)
f <- treat ~ x1 + x2 + x3
ps0 <- fitted(glm(f, data = d0, family = binomial()))
write.csv(data.frame(id = d0$id, ps = sprintf("%.12f", ps0)), "tests/r/matchit_reference_ps.csv", row.names = FALSE)
o <- order(-ps0)
d <- d0[o, ]; rownames(d) <- NULL
lp <- qlogis(ps0[o])
cal <- 0.2 * sd(lp)
D <- abs(outer(lp[d$treat == 1], lp[d$treat == 0], "-"))
dimnames(D) <- list(rownames(d)[d$treat == 1], rownames(d)[d$treat == 0])
out <- list()
for (replace in c(FALSE, TRUE)) for (ratio in c(1, 2)) {
  m <- matchit(f, data = d, method = "nearest", distance = D, caliper = cal, std.caliper = FALSE,
               replace = replace, ratio = ratio, m.order = "data")
  mm <- m$match.matrix  # treated rows x ratio, control row names (NA = unmatched)
  ctrl <- setNames(apply(mm, 1, function(r) paste(d$id[as.integer(r[!is.na(r)])], collapse = ";")),
                   d$id[as.integer(rownames(mm))])
  res <- data.frame(
    replace = replace, ratio = ratio, id = d$id, treat = d$treat,
    weight = sprintf("%.12f", m$weights),
    subclass = if (is.null(m$subclass)) NA else as.character(m$subclass),
    controls = ifelse(d$treat == 1, ctrl[d$id], NA),
    caliper = sprintf("%.12f", cal))
  out[[length(out) + 1]] <- res[match(d0$id, res$id), ]  # back to fixture order
}
write.csv(do.call(rbind, out), "tests/r/matchit_reference.csv", row.names = FALSE)
