"""Money back to customers: refund arithmetic, refund records, gateways, store credit, compensation, vouchers."""
