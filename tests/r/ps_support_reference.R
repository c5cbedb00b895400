# Reference values for tests/test_ps_support.py (propensity model with rare levels and separation).
# Run from the repository root:  Rscript tests/r/ps_support_reference.R
# Output: tests/r/ps_support_reference_ps.csv, ps_support_reference_coef.csv, ps_separation_reference.csv
#
# 1. tests/r/ps_support_fixture.csv: 300 people, 100 in the programme; 5 programme participants
#    have sex = "unknown" (no comparison person does). The pooling rule of
#    evaluation.stats.designs.pool_rare_levels (docs/methods.md, 'Comparison groups and designs'):
#    a level with fewer than 10 people or in one group only is rare; a single rare level joins the
#    most frequent level ("male"). R: recode, then an ordinary glm. The unpooled glm is written too:
#    its sexunknown coefficient runs off (quasi-separation), which made the old code fall back to ridge.
d <- read.csv("tests/r/ps_support_fixture.csv", stringsAsFactors = FALSE)
d$sex_pooled <- ifelse(d$sex == "unknown", "male", d$sex)
d$sex_pooled <- relevel(factor(d$sex_pooled), ref = "male")
d$risk_level <- relevel(factor(d$risk_level), ref = names(which.max(table(d$risk_level))))
fit <- glm(treat ~ age + sex_pooled + risk_level, data = d, family = binomial())
write.csv(data.frame(id = d$id, ps = sprintf("%.12f", fitted(fit))), "tests/r/ps_support_reference_ps.csv",
          row.names = FALSE)
d$sex_raw <- relevel(factor(d$sex), ref = "male")
raw <- suppressWarnings(glm(treat ~ age + sex_raw + risk_level, data = d, family = binomial()))
write.csv(data.frame(model = c(rep("pooled", length(coef(fit))), rep("unpooled", length(coef(raw)))),
                     term = c(names(coef(fit)), names(coef(raw))),
                     estimate = sprintf("%.10f", c(coef(fit), coef(raw)))),
          "tests/r/ps_support_reference_coef.csv", row.names = FALSE)

# 2. tests/r/ps_separation_fixture.csv: x > 0 exactly for the treated (complete separation).
#    Ridge-penalised logistic regression with an UNPENALISED intercept, as
#    evaluation.stats.designs._ridge_logit: maximise loglik/n - alpha/2 * sum(b_j^2) over the slopes of
#    the standardised columns (SD with divisor n). Solved here independently with optim (BFGS, analytic
#    gradient, tight tolerance).
s <- read.csv("tests/r/ps_separation_fixture.csv")
X <- cbind(1, scale(s$x, scale = sqrt(mean((s$x - mean(s$x))^2)), center = FALSE),
           scale(s$z, scale = sqrt(mean((s$z - mean(s$z))^2)), center = FALSE))
y <- s$treat
n <- length(y)
out <- list()
for (alpha in c(0.001, 10)) {
  pen <- c(0, alpha, alpha)
  f <- function(b) -(sum(y * (X %*% b) - log1p(exp(X %*% b))) / n - sum(pen * b^2) / 2)
  g <- function(b) -(t(X) %*% (y - plogis(X %*% b)) / n - pen * b)
  b0 <- c(qlogis(mean(y)), 0, 0)
  o <- optim(b0, f, g, method = "BFGS", control = list(reltol = 1e-16, maxit = 10000))
  out[[length(out) + 1]] <- data.frame(alpha = alpha, id = s$id, ps = sprintf("%.12f", plogis(X %*% o$par)),
                                       convergence = o$convergence)
}
write.csv(do.call(rbind, out), "tests/r/ps_separation_reference.csv", row.names = FALSE)
