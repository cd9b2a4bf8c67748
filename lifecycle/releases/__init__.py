"""What is live where: deployments per environment, the render and resolve path, the template's audit trail."""
