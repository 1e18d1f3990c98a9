/** Secrets the redaction tests type into commands: each matches a built-in rule (env-secret, github-token). */
export const AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
export const GITHUB = "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5";
