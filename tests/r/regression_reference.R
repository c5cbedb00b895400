# Reference values for evaluation/stats/regression.py (tests/test_regression.py).
# glm with epsilon 1e-14 (default 1e-8 stops early enough to move weighted SEs in the 7th decimal).
# Run from the repository root:  Rscript tests/r/regression_reference.R
# Needs r-base-core, r-cran-sandwich, r-cran-lmtest (Debian packages).
suppressPackageStartupMessages({library(sandwich); library(lmtest)})
d <- read.csv("tests/r/regression_fixture.csv")
out <- list()
add <- function(case, model, V) {
  ct <- coeftest(model, vcov. = V)
  ci <- coefci(model, vcov. = V, level = 0.95)
  out[[case]] <<- data.frame(case = case, term = rownames(ct), estimate = ct[, 1], se = ct[, 2],
                             ci_lower = ci[, 1], ci_upper = ci[, 2], p_value = ct[, 4])
}
m <- lm(y ~ grp + x1 + x2, data = d)
add("lm_classical", m, vcov(m))
add("lm_HC0", m, vcovHC(m, type = "HC0"))
add("lm_HC1", m, vcovHC(m, type = "HC1"))
add("lm_HC3", m, vcovHC(m, type = "HC3"))
add("lm_CR1", m, vcovCL(m, cluster = ~cluster, type = "HC1"))
mw <- lm(y ~ grp + x1 + x2, data = d, weights = w)
add("wlm_classical", mw, vcov(mw))
add("wlm_HC1", mw, vcovHC(mw, type = "HC1"))
add("wlm_HC3", mw, vcovHC(mw, type = "HC3"))
add("wlm_CR1", mw, vcovCL(mw, cluster = ~cluster, type = "HC1"))
g <- glm(yb ~ grp + x1 + x2, data = d, family = binomial(), control = glm.control(epsilon = 1e-14, maxit = 100))
add("glm_classical", g, vcov(g))
add("glm_HC0", g, vcovHC(g, type = "HC0"))
add("glm_HC1", g, vcovHC(g, type = "HC1"))
add("glm_HC3", g, vcovHC(g, type = "HC3"))
add("glm_CR1", g, vcovCL(g, cluster = ~cluster, type = "HC1"))
gw <- suppressWarnings(glm(yb ~ grp + x1 + x2, data = d, family = binomial(), weights = w,
                           control = glm.control(epsilon = 1e-14, maxit = 100)))
add("wglm_HC0", gw, vcovHC(gw, type = "HC0"))
add("wglm_CR1", gw, vcovCL(gw, cluster = ~cluster, type = "HC1"))
res <- do.call(rbind, out)
res$term[res$term == "(Intercept)"] <- "const"
write.csv(res, "tests/r/regression_reference.csv", row.names = FALSE)
cat("R", R.version$major, R.version$minor, "sandwich", as.character(packageVersion("sandwich")),
    "lmtest", as.character(packageVersion("lmtest")), "\n")
