# Reference values for tests/test_rossi.py: R survival on the ORIGINAL Rossi et al. (1980) data
# (tests/fixtures/survival_rossi.csv, identical to lifelines.datasets.load_rossi: week of first arrest,
# arrest, fin = financial aid, randomised), time in weeks.
#   - coxph(Surv(week, arrest) ~ fin), Efron ties (R's default): HR of financial aid, 95% Wald CI, Wald p.
#   - coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio): the adjusted HR of fin.
#   - survfit(Surv(week, arrest) ~ fin): Kaplan-Meier survival per arm at weeks 13, 26 and 52 with
#     Greenwood standard errors and 95% intervals, both "log-log" (what the package reports) and "log"
#     (R's default).
# The converted intake (tests/fixtures/intake_rossi, scripts/make_rossi_intake.py) dates an arrest in week w
# on day 7w after release, so weeks 13, 26, 52 are days 91, 182, 364 there.
# Run from the repository root:  Rscript tests/r/rossi_reference.R
suppressMessages(library(survival))
rossi <- read.csv("tests/fixtures/survival_rossi.csv")
fit <- coxph(Surv(week, arrest) ~ fin, data = rossi)
s <- summary(fit)
cox <- data.frame(
  quantity = c("coef", "se", "hr", "hr_lower", "hr_upper", "p_wald", "loglik", "n", "events"),
  arm = "difference", week = NA,
  value = c(s$coefficients[1, "coef"], s$coefficients[1, "se(coef)"], s$conf.int[1, "exp(coef)"],
            s$conf.int[1, "lower .95"], s$conf.int[1, "upper .95"], s$coefficients[1, "Pr(>|z|)"],
            fit$loglik[2], fit$n, fit$nevent))
weeks <- c(13, 26, 52)
km <- list()
for (ct in c("log-log", "log")) {
  sf <- summary(survfit(Surv(week, arrest) ~ fin, data = rossi, conf.type = ct), times = weeks)
  arm <- ifelse(sf$strata == "fin=1", "programme", "comparison")
  tag <- if (ct == "log-log") "loglog" else "log"
  km[[tag]] <- rbind(
    data.frame(quantity = paste0("km_lower_", tag), arm = arm, week = sf$time, value = sf$lower),
    data.frame(quantity = paste0("km_upper_", tag), arm = arm, week = sf$time, value = sf$upper))
  if (ct == "log-log") {
    km$est <- rbind(
      data.frame(quantity = "km_surv", arm = arm, week = sf$time, value = sf$surv),
      data.frame(quantity = "km_std_err", arm = arm, week = sf$time, value = sf$std.err),
      data.frame(quantity = "km_n_risk", arm = arm, week = sf$time, value = sf$n.risk))
  }
}
# the adjusted model of Fox's appendix: fin + age + race + wexp + mar + paro + prio (Efron), whose fin row the
# package's hazard_ratio_adjusted must give (age enters as age_at_intake, prio as prior_cases, the rest as
# declared binary covariates of participant_covariates)
full <- coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, data = rossi)
sf <- summary(full)
adj <- data.frame(
  quantity = c("adj_coef", "adj_se", "adj_hr", "adj_hr_lower", "adj_hr_upper", "adj_p_wald"),
  arm = "difference", week = NA,
  value = c(sf$coefficients["fin", "coef"], sf$coefficients["fin", "se(coef)"], sf$conf.int["fin", "exp(coef)"],
            sf$conf.int["fin", "lower .95"], sf$conf.int["fin", "upper .95"], sf$coefficients["fin", "Pr(>|z|)"]))
out <- rbind(cox, adj, km$est, km$loglog, km$log)
out$value <- sprintf("%.15g", out$value)
write.csv(out, "tests/r/rossi_reference.csv", row.names = FALSE, na = "")
cat(sprintf("R %s, survival %s\n", getRversion(), packageVersion("survival")))
